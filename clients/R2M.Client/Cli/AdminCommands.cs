using System.CommandLine;
using System.Globalization;
using R2M.Api.V1;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary>
/// <c>r2m-client reset</c> (startup weights, cleared rollout store) and <c>r2m-client generate</c>
/// (sample responses and print their rollout ids, so <c>score --rollout-id</c> can score them with
/// policy feedback).
/// </summary>
internal static class AdminCommands
{
    private static bool IsConnectionSetting(System.Reflection.PropertyInfo p) =>
        p.Name is nameof(TrainSettings.Server) or nameof(TrainSettings.ApiKeyFile) or nameof(TrainSettings.Timeout) or nameof(TrainSettings.Retries);

    public static Command Reset(TextWriter stdout)
    {
        var command = new Command("reset", "return the server to its startup weights and clear its rollout store (Admin.Reset)");
        var seed = new Option<ulong?>("--seed") { Description = "re-seed the cross-attention init and the server's noise and sampling streams" };
        command.Options.Add(seed);
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(), IsConnectionSetting);
        command.SetAction(async (parse, ct) =>
        {
            var s = new TrainSettings();
            binder.Apply(parse, s);
            using var client = new R2MClient(s.ToClientOptions());
            ResetReply reply = await client.ResetAsync(parse.GetValue(seed), ct).ConfigureAwait(false);
            stdout.WriteLine($"reset: policy version {reply.PolicyVersion}, rm version {reply.RmVersion}");
            return 0;
        });
        return command;
    }

    public static Command Generate(TextWriter stdout)
    {
        var command = new Command("generate", "sample K responses to a prompt; prints each rollout id (kept in the server's store for score --rollout-id)");
        var prompt = new Option<string>("--prompt") { Description = "prompt text, e.g. \"sort 3 1 2 =\"", Required = true };
        command.Options.Add(prompt);
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(), p => IsConnectionSetting(p)
            || p.Name is nameof(TrainSettings.K) or nameof(TrainSettings.Seed) or nameof(TrainSettings.Temperature) or nameof(TrainSettings.TopK)
                or nameof(TrainSettings.TopP) or nameof(TrainSettings.MaxNewTokens));
        command.SetAction(async (parse, ct) =>
        {
            var s = new TrainSettings();
            binder.Apply(parse, s);
            if (s.K < 1)
            {
                throw new ArgumentException($"--k = {s.K} must be >= 1");
            }

            var sampling = new SamplingParams { Temperature = (float)s.Temperature, TopK = (uint)s.TopK, MaxNewTokens = (uint)s.MaxNewTokens, Seed = s.Seed };
            if (s.TopP is { } topP)
            {
                sampling.TopP = (float)topP;
            }

            var request = new GenerateRequest { SamplesPerPrompt = (uint)s.K, Sampling = sampling };
            request.Prompts.Add(new Prompt { Text = parse.GetValue(prompt)! });
            using var client = new R2MClient(s.ToClientOptions());
            foreach (Rollout r in await client.GenerateAsync(request, ct).ConfigureAwait(false))
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.RolloutId}\t{r.ResponseTokenIds.Count} tokens\t{r.FinishReason}\t\"{r.ResponseText}\""));
            }

            return 0;
        });
        return command;
    }
}
