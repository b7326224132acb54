using Microsoft.Extensions.Logging;
using R2M.Models;

namespace R2M.Server.Internal;

/// <summary>
/// The models r2m-server hosts, loaded once (<see cref="ModelLoader"/>, after Kestrel bound): the policy,
/// its frozen reference copy (the KL term) and the reward model whose backbone stays frozen.
/// </summary>
internal sealed class HostedModels
{
    private HostedModels(HostedModel policy, HostedModel reward)
    {
        Policy = policy;
        Reference = policy.CloneFrozen();
        Reward = reward;
        SharedTokenizer = File.ReadAllText(policy.TokenizerPath) == File.ReadAllText(reward.TokenizerPath) && policy.VocabSize == reward.VocabSize;
    }

    /// <summary>The policy as loaded (its tokenizer, limits and the weights <see cref="PolicyHost"/> starts from).</summary>
    public HostedModel Policy { get; }

    /// <summary>The frozen reference policy (never trained; only Optimize reads it, under the write gate).</summary>
    public HostedModel Reference { get; }

    /// <summary>The reward model: frozen backbone (RTEs) and the pretrained scoring head phi starts from.</summary>
    public HostedModel Reward { get; }

    /// <summary>Policy and RM use the same tokenizer.json, so policy token ids are RM token ids.</summary>
    public bool SharedTokenizer { get; }

    public static HostedModels Load(R2MServerOptions options, ILogger logger)
    {
        var policy = HostedModel.Load(options.PolicyPath!, "policy", logger);
        if (policy.Model.Config.Head != ModelHead.CausalLm)
        {
            throw new InvalidOperationException($"policy '{policy.Directory}' has a {policy.Model.Config.Head} head; the policy must be a causal LM");
        }

        Log(logger, "policy", policy);
        var rm = HostedModel.Load(options.RewardModelPath!, "reward model", logger);
        Log(logger, "reward model", rm);
        return new HostedModels(policy, rm);
    }

    private static void Log(ILogger logger, string role, HostedModel m) =>
        ServerLog.ModelLoaded(logger, role, m.Directory, m.Model.Config.ModelType, m.Width, m.Model.Config.NumLayers, m.VocabSize, m.Model.ParameterCount);
}
