using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Alignment;
using R2M.Api.V1;
using AlignRollout = R2M.Alignment.Rollout;
using ApiAggregation = R2M.Api.V1.LossAggregation;

namespace R2M.Server.Internal;

/// <summary>One sequence of an Optimize batch after validation.</summary>
internal sealed record OptItem(int[] Prompt, int[] Response, float[]? OldLogp, float Temperature, StoredRollout? Entry, string Group, float? Advantage, float? Reward);

/// <summary>
/// Policy.Optimize (docs/method.md section 1 steps 4-5): reads and validates the call (this file), then
/// trains and publishes it as one <see cref="WriteGate"/> transaction (PolicyTrainer.Train.cs).
/// </summary>
internal sealed partial class PolicyTrainer(PolicyHost policy, RolloutStore store, HostedModels models, WriteGate writes, ServerMetrics metrics, ILogger<PolicyTrainer> logger)
{
    private const string Kind = "Optimize";

    public async Task<OptimizeReply> OptimizeAsync(IAsyncStreamReader<PolicyBatch> requests, ServerCallContext call)
    {
        OptimizeConfig? config = null;
        var raw = new List<PolicyItem>();
        while (await requests.MoveNext(call.CancellationToken).ConfigureAwait(false))
        {
            var b = requests.Current;
            if (config is null) config = b.Config ?? throw new InvalidInputException("the first PolicyBatch must carry config");
            else if (b.Config is not null && !b.Config.Equals(config)) throw new InvalidInputException("config differs from the first message's config (it may only be repeated unchanged)");
            raw.AddRange(b.Items);
        }

        if (config is null || raw.Count == 0) throw new InvalidInputException("Optimize received no items");
        WriteReplies.Validate("config.request_id", config.RequestId);
        var options = Options(config);
        var refresh = !config.HasRefreshHiddenStates || config.RefreshHiddenStates;
        // Items are resolved under the gate: a concurrent LoadCheckpoint/Reset clears the store.
        return await writes.RunAsync(Kind, config.RequestId, call,
            scope => Task.Run(() => Train(raw, config, options, refresh, scope), scope.Cancellation), policy.Rollback).ConfigureAwait(false);
    }

    private PolicyOptimizerOptions Options(OptimizeConfig c)
    {
        var eps = c.HasClipEpsilon ? c.ClipEpsilon : 0.2f;
        float? high = c.HasClipEpsilonHigh ? c.ClipEpsilonHigh : null;
        var beta = c.HasBeta ? c.Beta : 0f;
        var agg = c.Aggregation switch
        {
            ApiAggregation.TokenMean => Alignment.LossAggregation.Dapo,
            ApiAggregation.MinibatchTokenMean => Alignment.LossAggregation.Bnpo,
            ApiAggregation.ConstantNorm => Alignment.LossAggregation.DrGrpo,
            ApiAggregation.Unspecified or ApiAggregation.SequenceMean => Alignment.LossAggregation.Grpo,
            _ => throw new InvalidInputException($"config.aggregation {(int)c.Aggregation} is not a known LossAggregation"),
        };
        Require(Enum.IsDefined(c.Algorithm), $"config.algorithm {(int)c.Algorithm} is not a known Algorithm");
        Require(Enum.IsDefined(c.RewardScaling), $"config.reward_scaling {(int)c.RewardScaling} is not a known RewardScaling");
        var lr = c.HasLearningRate ? c.LearningRate : policy.LearningRate;
        var clip = c.HasMaxGradNorm ? c.MaxGradNorm : 1f;
        // epochs and minibatch_size are uint32 on the wire: compared before the signed casts.
        Require(c.Epochs <= 100, $"config.epochs {c.Epochs} is above 100");
        Require(c.MinibatchSize <= 1_000_000, $"config.minibatch_size {c.MinibatchSize} is above 1000000");
        var epochs = c.Epochs == 0 ? 2 : (int)c.Epochs;
        Require(float.IsFinite(lr) && lr >= 0, $"config.learning_rate {lr} must be finite and >= 0");
        Require(float.IsFinite(clip) && clip >= 0, $"config.max_grad_norm {clip} must be finite and >= 0");
        var loss = new PolicyLossOptions(eps, high, beta, agg);
        try
        {
            loss.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidInputException($"config: {e.ParamName} {e.ActualValue}: {e.Message.Split(" (Parameter")[0]}");
        }

        return new PolicyOptimizerOptions(epochs, (int)c.MinibatchSize, 1f, loss, new AdamWOptions(lr), clip <= 0 ? 0 : clip);
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new InvalidInputException(message);
    }

    private List<OptItem> Resolve(List<PolicyItem> raw)
    {
        for (var n = 0; n < raw.Count; n++)
        {
            RequestLimits.CheckId($"items[{n}].rollout_id", raw[n].RolloutId);
            RequestLimits.CheckId($"items[{n}].group_id", raw[n].GroupId);
        }

        var ids = raw.Where(i => i.SourceCase == PolicyItem.SourceOneofCase.RolloutId).Select(i => i.RolloutId).ToList();
        var found = store.GetAll(ids, "Optimize items[].rollout_id").ToDictionary(r => r.Id, StringComparer.Ordinal);
        var withAdv = raw.Count(i => i.SignalCase == PolicyItem.SignalOneofCase.Advantage);
        if (withAdv != 0 && withAdv != raw.Count) throw new InvalidInputException($"{withAdv} of {raw.Count} items carry an advantage and the others a reward (or neither); do not mix");
        return raw.Select((it, n) => ResolveOne(it, $"items[{n}]", found)).ToList();
    }

    private OptItem ResolveOne(PolicyItem it, string field, Dictionary<string, StoredRollout> found)
    {
        float? a = it.SignalCase == PolicyItem.SignalOneofCase.Advantage ? it.Advantage : null;
        float? r = it.SignalCase == PolicyItem.SignalOneofCase.Reward ? it.Reward : null;
        if (a is null && r is null) throw new InvalidInputException($"{field} has neither advantage nor reward");
        if (!float.IsFinite(a ?? r!.Value)) throw new InvalidInputException($"{field}.{(a is null ? "reward" : "advantage")} is {a ?? r}; NaN and Inf are rejected");
        if (it.SourceCase == PolicyItem.SourceOneofCase.RolloutId)
        {
            var s = found[it.RolloutId];
            if (s.ResponseTokens.Length == 0) throw new InvalidInputException($"{field}: rollout '{s.Id}' has an empty response");
            return new OptItem(s.PromptTokens, s.ResponseTokens, s.Logprobs, s.Temperature, s, it.GroupId, a, r);
        }

        var inl = it.Inline ?? throw new InvalidInputException($"{field} has neither rollout_id nor inline");
        int[] p = [.. inl.PromptTokenIds], resp = [.. inl.ResponseTokenIds];
        if (p.Length == 0 || resp.Length == 0) throw new InvalidInputException($"{field}.inline needs non-empty prompt_token_ids and response_token_ids");
        models.Policy.CheckTokens(p, $"{field}.inline.prompt_token_ids");
        models.Policy.CheckTokens(resp, $"{field}.inline.response_token_ids");
        models.Policy.CheckLength(p.Length + resp.Length, $"{field}.inline (prompt + response)");
        float[]? oldLp = inl.OldLogprobs.Count == 0 ? null : [.. inl.OldLogprobs];
        if (oldLp is not null && oldLp.Length != resp.Length) throw new InvalidInputException($"{field}.inline.old_logprobs has {oldLp.Length} values for {resp.Length} response tokens");
        if (oldLp is not null && TensorCodec.IndexOfNonFinite(oldLp) is var bad and >= 0) throw new InvalidInputException($"{field}.inline.old_logprobs[{bad}] is {oldLp[bad]}; NaN and Inf are rejected");
        return new OptItem(p, resp, oldLp, 1f, null, it.GroupId, a, r);
    }

    /// <summary>Advantages as sent, or computed per group_id from rewards with R2M.Alignment.Advantages (groups may differ in size).</summary>
    private static float[] ComputeAdvantages(List<OptItem> items, OptimizeConfig c)
    {
        if (items[0].Advantage is not null) return items.Select(i => i.Advantage!.Value).ToArray();
        var eps = c.HasAdvantageEpsilon ? c.AdvantageEpsilon : 1e-4f;
        if (!(eps >= 0) || !float.IsFinite(eps)) throw new InvalidInputException($"config.advantage_epsilon {eps} must be finite and >= 0");
        var estimator = c.Algorithm == Algorithm.Rloo ? AdvantageEstimator.Rloo : AdvantageEstimator.Grpo;
        // TRL scale_rewards: per group (default), "batch" (group-centred rewards over the std of the whole batch), or none.
        var scale = c.RewardScaling switch { RewardScaling.None => AdvantageScale.None, RewardScaling.Batch => AdvantageScale.Batch, _ => AdvantageScale.Group };
        var groups = Enumerable.Range(0, items.Count).GroupBy(i => items[i].Group).Select(g => g.ToArray()).ToList();
        foreach (var idx in groups)
        {
            if (idx.Length < 2) throw new InvalidInputException($"group_id '{items[idx[0]].Group}' has {idx.Length} item; rewards need groups of at least 2 (set group_id on every item)");
        }

        var order = groups.SelectMany(g => g).ToArray();
        var grouped = new float[items.Count];
        Advantages.Compute([.. order.Select(i => items[i].Reward!.Value)], [.. groups.Select(g => g.Length)], new AdvantageOptions(estimator, scale, true, eps), grouped);
        var adv = new float[items.Count];
        for (var j = 0; j < order.Length; j++) adv[order[j]] = grouped[j];
        return adv;
    }
}
