using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using AlignRollout = R2M.Alignment.Rollout;
using ApiAggregation = R2M.Api.V1.LossAggregation;

namespace R2M.Server.Internal;

/// <summary>One sequence of an Optimize batch after validation.</summary>
internal sealed record OptItem(int[] Prompt, int[] Response, float[]? OldLogp, float Temperature, StoredRollout? Entry, string Group, float? Advantage, float? Reward);

/// <summary>
/// Policy.Optimize (docs/method.md section 1 steps 4-5): advantages per group (R2M.Alignment.Advantages),
/// then R2M.Alignment.PolicyOptimizer epochs of the clipped surrogate with the k3 KL to the frozen
/// reference on the trainer copy of the policy; its last epoch refreshes the stored hidden states (h').
/// The trained weights are then copied into the serving policy at once (<see cref="ServerState.PublishPolicyAsync"/>).
/// </summary>
internal static class PolicyTrainer
{
    private const string ReplyKind = "optimize";

    public static async Task<OptimizeReply> OptimizeAsync(ServerState state, IAsyncStreamReader<PolicyBatch> requests, CancellationToken ct)
    {
        OptimizeConfig? config = null;
        var raw = new List<PolicyItem>();
        while (await requests.MoveNext(ct).ConfigureAwait(false))
        {
            var b = requests.Current;
            if (config is null) config = b.Config ?? throw new InvalidInputException("the first PolicyBatch must carry config");
            else if (b.Config is not null && !b.Config.Equals(config)) throw new InvalidInputException("config differs from the first message's config (it may only be repeated unchanged)");
            raw.AddRange(b.Items);
        }

        if (config is null || raw.Count == 0) throw new InvalidInputException("Optimize received no items");
        WriteReplies.Validate("config.request_id", config.RequestId);
        var options = Options(state, config);
        var refresh = !config.HasRefreshHiddenStates || config.RefreshHiddenStates;
        await state.AdminGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (state.Replies.TryGet<OptimizeReply>(ReplyKind, config.RequestId, out var earlier))
            {
                return earlier; // a re-send of an applied call: not applied twice
            }

            // Resolved under the gate: a concurrent LoadCheckpoint/Reset clears the store.
            var items = Resolve(state, raw);
            var adv = ComputeAdvantages(items, config);
            var temperature = items[0].Temperature;
            if (items.Any(i => i.Temperature != temperature))
            {
                throw new InvalidInputException("items were sampled at different temperatures; log-probs use logits / temperature, so send one temperature per Optimize call");
            }

            var reply = await Task.Run(() => Train(state, items, adv, options with { Temperature = temperature }, refresh), ct).ConfigureAwait(false);
            reply.PolicyVersion = await state.PublishPolicyAsync(CancellationToken.None).ConfigureAwait(false);
            var mean = adv.Average();
            reply.AdvantageMean = mean;
            reply.AdvantageStd = MathF.Sqrt(adv.Select(a => (a - mean) * (a - mean)).Average());
            state.Metrics.SetPolicyLosses(reply.PolicyLoss, reply.Kl);
            ServerLog.PolicyOptimized(state.Logger, reply.PolicyVersion, reply.PolicyLoss, reply.Kl, items.Count);
            state.Replies.Remember(ReplyKind, config.RequestId, reply);
            return reply;
        }
        finally
        {
            state.AdminGate.Release();
        }
    }

    private static OptimizeReply Train(ServerState state, List<OptItem> items, float[] adv, PolicyOptimizerOptions options, bool refresh)
    {
        var policy = new TransformerPolicy(state.TrainerModel);
        var reference = new TransformerPolicy(state.Reference.Model);
        var pairs = items.Select(i => (i.Prompt, i.Response)).ToList();
        var refLp = reference.Forward(pairs, options.Temperature, keepActivations: false).CompletionLogProbs;
        // Inline items without old log-probs: the current weights give them (the ratio starts at 1).
        float[][]? current = items.Any(i => i.OldLogp is null) ? policy.Forward(pairs, options.Temperature, false).CompletionLogProbs : null;
        var rollouts = items.Select((it, n) => new AlignRollout
        {
            Id = it.Entry?.Id ?? $"inline-{n}",
            Prompt = it.Prompt,
            Completion = it.Response,
            OldLogProbs = it.OldLogp ?? current![n],
            RefLogProbs = refLp[n],
            Hidden = [],
            HiddenRows = 0,
        }).ToList();

        // One PolicyOptimizer pass per epoch (Epochs = 1 each, same minibatch order and optimizer state as one
        // k-epoch call) so the reply can carry every epoch's loss; h' is taken in the last epoch only.
        var optimizer = new PolicyOptimizer(policy, options with { Epochs = 1 });
        // The optimizer's moments persist across calls: PolicyOptimizer holds them per instance.
        state.PolicyAdam.M.CopyTo(optimizer.Optimizer.M, 0);
        state.PolicyAdam.V.CopyTo(optimizer.Optimizer.V, 0);
        optimizer.Optimizer.Step = state.PolicyAdam.Step;
        var reply = new OptimizeReply { Items = (uint)items.Count, Tokens = (ulong)items.Sum(i => i.Response.Length) };
        PolicyUpdateResult result = default;
        for (var e = 0; e < options.Epochs; e++)
        {
            result = optimizer.Optimize(rollouts, adv, refresh && e == options.Epochs - 1);
            reply.EpochLosses.Add(result.LastEpochLoss);
        }

        state.PolicyAdam = optimizer.Optimizer;
        reply.PolicyLoss = result.LastEpochLoss;
        reply.ClipFraction = result.ClipFraction;
        reply.GradNorm = result.GradNorm;
        // TransformerPolicy's training passes carry per-token entropies; absent (proto optional) otherwise.
        if (result.Entropy is float entropy) reply.Entropy = entropy;
        // With beta = 0 the loss has no KL term; report the k3 KL of the sampling policy to the reference instead.
        reply.Kl = options.LossOrDefault.Beta > 0 ? result.Kl : MeanK3(rollouts);
        if (refresh)
        {
            for (var n = 0; n < items.Count; n++)
            {
                if (items[n].Entry is not { } e) continue;
                e.Feedback = new Feedback(rollouts[n].Hidden, rollouts[n].HiddenRows);
                state.Store.Resize(e);
                reply.HiddenStatesRefreshed = true;
            }
        }

        return reply;
    }

    /// <summary>Mean per-token k3 = exp(ref - old) - (ref - old) - 1 (docs/method.md section 8).</summary>
    private static float MeanK3(List<AlignRollout> rollouts)
    {
        double sum = 0;
        long n = 0;
        foreach (var r in rollouts)
        {
            for (var i = 0; i < r.Completion.Length; i++)
            {
                double d = r.RefLogProbs![i] - r.OldLogProbs[i];
                sum += Math.Exp(d) - d - 1;
                n++;
            }
        }

        return n == 0 ? 0 : (float)(sum / n);
    }

    private static PolicyOptimizerOptions Options(ServerState state, OptimizeConfig c)
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
        var lr = c.HasLearningRate ? c.LearningRate : state.Options.PolicyLearningRate;
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

    private static List<OptItem> Resolve(ServerState state, List<PolicyItem> raw)
    {
        for (var n = 0; n < raw.Count; n++)
        {
            RequestLimits.CheckId($"items[{n}].rollout_id", raw[n].RolloutId);
            RequestLimits.CheckId($"items[{n}].group_id", raw[n].GroupId);
        }

        var ids = raw.Where(i => i.SourceCase == PolicyItem.SourceOneofCase.RolloutId).Select(i => i.RolloutId).ToList();
        var found = state.Store.GetAll(ids, "Optimize items[].rollout_id").ToDictionary(r => r.Id, StringComparer.Ordinal);
        var withAdv = raw.Count(i => i.SignalCase == PolicyItem.SignalOneofCase.Advantage);
        if (withAdv != 0 && withAdv != raw.Count) throw new InvalidInputException($"{withAdv} of {raw.Count} items carry an advantage and the others a reward (or neither); do not mix");
        return raw.Select((it, n) => ResolveOne(state, it, $"items[{n}]", found)).ToList();
    }

    private static OptItem ResolveOne(ServerState state, PolicyItem it, string field, Dictionary<string, StoredRollout> found)
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
        state.Policy.CheckTokens(p, $"{field}.inline.prompt_token_ids");
        state.Policy.CheckTokens(resp, $"{field}.inline.response_token_ids");
        state.Policy.CheckLength(p.Length + resp.Length, $"{field}.inline (prompt + response)");
        float[]? oldLp = inl.OldLogprobs.Count == 0 ? null : [.. inl.OldLogprobs];
        if (oldLp is not null && oldLp.Length != resp.Length) throw new InvalidInputException($"{field}.inline.old_logprobs has {oldLp.Length} values for {resp.Length} response tokens");
        if (oldLp is not null && TensorCodec.IndexOfNonFinite(oldLp) is var bad and >= 0) throw new InvalidInputException($"{field}.inline.old_logprobs[{bad}] is {oldLp[bad]}; NaN and Inf are rejected");
        return new OptItem(p, resp, oldLp, 1f, null, it.GroupId, a, r);
    }

    /// <summary>Advantages as sent, or computed per group_id from rewards with R2M.Alignment.Advantages.</summary>
    private static float[] ComputeAdvantages(List<OptItem> items, OptimizeConfig c)
    {
        if (items[0].Advantage is not null) return items.Select(i => i.Advantage!.Value).ToArray();
        var eps = c.HasAdvantageEpsilon ? c.AdvantageEpsilon : 1e-4f;
        if (!(eps >= 0) || !float.IsFinite(eps)) throw new InvalidInputException($"config.advantage_epsilon {eps} must be finite and >= 0");
        var estimator = c.Algorithm == Algorithm.Rloo ? AdvantageEstimator.Rloo : AdvantageEstimator.Grpo;
        var batchScale = c.RewardScaling == RewardScaling.Batch && estimator == AdvantageEstimator.Grpo;
        var scale = c.RewardScaling == RewardScaling.None || batchScale ? AdvantageScale.None : AdvantageScale.Group;
        var adv = new float[items.Count];
        foreach (var group in Enumerable.Range(0, items.Count).GroupBy(i => items[i].Group))
        {
            var idx = group.ToArray();
            if (idx.Length < 2) throw new InvalidInputException($"group_id '{group.Key}' has {idx.Length} item; rewards need groups of at least 2 (set group_id on every item)");
            var r = idx.Select(i => items[i].Reward!.Value).ToArray();
            var a = new float[idx.Length];
            Advantages.Compute(r, idx.Length, new AdvantageOptions(estimator, scale, true, eps), a);
            for (var j = 0; j < idx.Length; j++) adv[idx[j]] = a[j];
        }

        if (batchScale)
        {
            // TRL scale_rewards="batch": group-centred rewards divided by the std of the whole batch.
            var rs = items.Select(i => (double)i.Reward!.Value).ToArray();
            var mean = rs.Average();
            var std = Math.Sqrt(rs.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, rs.Length - 1));
            for (var i = 0; i < adv.Length; i++) adv[i] = (float)(adv[i] / (std + eps));
        }

        return adv;
    }
}
