using R2M.Alignment;
using R2M.Api.V1;
using AlignRollout = R2M.Alignment.Rollout;

namespace R2M.Server.Internal;

/// <summary>
/// The transaction of Policy.Optimize: R2M.Alignment's <see cref="PolicyOptimizer"/> of the scratch copy runs
/// the epochs (clipped surrogate, k3 KL to the frozen reference, AdamW whose moments it keeps between calls);
/// its last epoch yields h'. Only when that finished with finite losses and weights is the copy published
/// (<see cref="PolicyHost.Publish"/>) and are the stored hidden states replaced by h'.
/// </summary>
internal sealed partial class PolicyTrainer
{
    private OptimizeReply Train(List<PolicyItem> raw, OptimizeConfig config, PolicyOptimizerOptions options, bool refresh, WriteScope scope)
    {
        var items = Resolve(raw);
        var adv = ComputeAdvantages(items, config);
        var temperature = items[0].Temperature;
        if (items.Any(i => i.Temperature != temperature))
        {
            throw new InvalidInputException("items were sampled at different temperatures; log-probs use logits / temperature, so send one temperature per Optimize call");
        }

        options = options with { Temperature = temperature };
        var scratch = policy.Scratch;
        var rollouts = Rollouts(items, scratch.Policy, temperature);
        var result = scratch.Optimize(rollouts, adv, refresh, options, scope.AfterStep, scope.Cancellation);
        scope.Cancellation.ThrowIfCancellationRequested();

        var version = policy.Publish();
        var reply = new OptimizeReply
        {
            PolicyVersion = version, Items = (uint)items.Count, Tokens = (ulong)items.Sum(i => i.Response.Length),
            PolicyLoss = result.LastEpochLoss, ClipFraction = result.ClipFraction, GradNorm = result.GradNorm,
            // With beta = 0 the loss has no KL term; report the k3 KL of the sampling policy to the reference instead.
            Kl = options.LossOrDefault.Beta > 0 ? result.Kl : PolicyLoss.MeanK3(rollouts),
        };
        reply.EpochLosses.Add(result.EpochLosses!);
        // TransformerPolicy's training passes carry per-token entropies; absent (proto optional) otherwise.
        if (result.Entropy is float entropy) reply.Entropy = entropy;
        var mean = adv.Average();
        reply.AdvantageMean = mean;
        reply.AdvantageStd = MathF.Sqrt(adv.Select(a => (a - mean) * (a - mean)).Average());
        if (refresh) reply.HiddenStatesRefreshed = Refresh(items, rollouts);
        metrics.SetPolicyLosses(reply.PolicyLoss, reply.Kl);
        ServerLog.PolicyOptimized(logger, reply.PolicyVersion, reply.PolicyLoss, reply.Kl, items.Count);
        return reply;
    }

    /// <summary>R2M.Alignment rollouts: reference log-probs from the frozen copy; inline items without old log-probs get the current ones (ratio 1).</summary>
    private List<AlignRollout> Rollouts(List<OptItem> items, ITrainablePolicy current, float temperature)
    {
        var pairs = items.Select(i => (i.Prompt, i.Response)).ToList();
        var refLp = new TransformerPolicy(models.Reference.Model).Forward(pairs, temperature, keepActivations: false).CompletionLogProbs;
        // The scratch copy holds the served weights until it trains.
        var now = items.Any(i => i.OldLogp is null) ? current.Forward(pairs, temperature, false).CompletionLogProbs : null;
        return [.. items.Select((it, n) => new AlignRollout
        {
            Id = it.Entry?.Id ?? $"inline-{n}",
            Prompt = it.Prompt,
            Completion = it.Response,
            OldLogProbs = it.OldLogp ?? now![n],
            RefLogProbs = refLp[n],
            Hidden = [],
            HiddenRows = 0,
        })];
    }

    /// <summary>Stored rollouts take h' of the published policy (Score reads each rollout's pair by one reference).</summary>
    private bool Refresh(List<OptItem> items, List<AlignRollout> rollouts)
    {
        var any = false;
        for (var n = 0; n < items.Count; n++)
        {
            if (items[n].Entry is not { } e) continue;
            e.Feedback = new Feedback(rollouts[n].Hidden, rollouts[n].HiddenRows);
            store.Resize(e);
            any = true;
        }

        return any;
    }
}
