using Microsoft.Extensions.DependencyInjection;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Internal;

/// <summary>
/// The DI registrations of the hosted models and everything built on them. The model services are
/// singletons over <see cref="HostedModels"/>, which <see cref="ModelLoader"/> loads after Kestrel bound:
/// resolving one before that is UNAVAILABLE (the loading phase), so no call ever sees half-built state.
/// </summary>
internal static class ModelServices
{
    public static void Add(IServiceCollection s)
    {
        s.AddSingleton<ModelHost>();
        s.AddSingleton<CheckpointDirectory>();
        s.AddHostedService<ModelLoader>();
        s.AddSingleton(sp => sp.GetRequiredService<ModelHost>().Models);
        s.AddSingleton(sp => new RolloutStore(sp.GetRequiredService<R2MServerOptions>().RolloutStoreBytes, sp.GetRequiredService<ServerMetrics>()));
        s.AddSingleton<PolicyHost>();
        s.AddSingleton<RewardHost>();
        s.AddSingleton<ScoreBatcher>();
        s.AddSingleton<ScoreServices>();
        s.AddSingleton<WriteReplies>();
        s.AddSingleton<WriteGate>();
        s.AddSingleton<CheckpointContent>();
        s.AddSingleton<UpdateTrainer>();
        s.AddSingleton<PolicyTrainer>();
    }
}
