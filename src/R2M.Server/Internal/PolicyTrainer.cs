using R2M.Alignment;
using R2M.Api.V1;
using R2M.Grpc;
using ApiAggregation = R2M.Api.V1.LossAggregation;

namespace R2M.Server.Internal;

/// <summary>One sequence of an Optimize batch after validation.</summary>
internal sealed record OptItem(int[] Prompt, int[] Response, float[]? OldLogp, float Temperature, StoredRollout? Entry, string Group, float? Advantage, float? Reward);

/// <summary>
/// Policy optimization (R2M-METHOD.md section 1 steps 4-5): advantages per group, then epochs of
/// the clipped surrogate with the k3 KL to the frozen reference; the last epoch's forward pass
/// refreshes the stored hidden states (h'). Runs under the admin gate and the policy gate, so
/// Generate sees either the old or the new weights, never a mix.
/// </summary>
internal static class PolicyTrainer
{
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
        var items = Resolve(state, raw);
        var adv = ComputeAdvantages(items, config);
        var options = LossOptions(config);
        var lr = config.HasLearningRate ? config.LearningRate : state.Options.PolicyLearningRate;
        if (!(lr >= 0) || !float.IsFinite(lr)) throw new InvalidInputException($"config.learning_rate {lr} must be >= 0");
        var clip = config.HasMaxGradNorm ? config.MaxGradNorm : 1f;
        if (!(clip >= 0)) throw new InvalidInputException($"config.max_grad_norm {clip} must be >= 0");
        var epochs = config.Epochs == 0 ? 2 : (int)config.Epochs;
        if (epochs > 100) throw new InvalidInputException($"config.epochs {epochs} is above 100");
        var mb = config.MinibatchSize == 0 ? items.Count : (int)config.MinibatchSize;
        var refresh = !config.HasRefreshHiddenStates || config.RefreshHiddenStates;

        await state.AdminGate.WaitAsync(ct).ConfigureAwait(false);
        await state.Policy.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var reply = await Task.Run(() => Train(state, items, adv, options, lr, clip, epochs, mb, refresh, ct), ct).ConfigureAwait(false);
            reply.PolicyVersion = state.BumpPolicyVersion();
            reply.AdvantageMean = (float)adv.Average();
            reply.AdvantageStd = (float)Math.Sqrt(adv.Select(a => (a - reply.AdvantageMean) * (a - reply.AdvantageMean)).Average());
            state.Metrics.SetPolicyLosses(reply.PolicyLoss, reply.Kl);
            ServerLog.PolicyOptimized(state.Logger, reply.PolicyVersion, reply.PolicyLoss, reply.Kl, items.Count);
            return reply;
        }
        finally
        {
            state.Policy.Gate.Release();
            state.AdminGate.Release();
        }
    }

    private static OptimizeReply Train(ServerState state, List<OptItem> items, float[] adv, PolicyLossOptions options, float lr, float clip,
        int epochs, int mb, bool refresh, CancellationToken ct)
    {
        var policy = state.Policy;
        // Inline items without old log-probs: the current weights give them (the ratio starts at 1).
        var old = items.Select(i => i.OldLogp).ToArray();
        var need = Enumerable.Range(0, items.Count).Where(i => old[i] is null).ToList();
        if (need.Count > 0)
        {
            var lp = SequenceLogProbs.Compute(policy, need.Select(i => items[i]).ToList(), training: false).Logp;
            for (var j = 0; j < need.Count; j++) old[need[j]] = lp[j];
        }

        var reply = new OptimizeReply { Items = (uint)items.Count, Tokens = (ulong)items.Sum(i => i.Response.Length) };
        for (var e = 0; e < epochs; e++)
        {
            double loss = 0, kl = 0, clipFrac = 0, entropy = 0;
            var batches = 0;
            for (var start = 0; start < items.Count; start += mb)
            {
                ct.ThrowIfCancellationRequested();
                var n = Math.Min(mb, items.Count - start);
                var batch = items.GetRange(start, n);
                var step = SequenceLogProbs.TrainStep(state, batch, old.AsSpan(start, n).ToArray(), adv.AsSpan(start, n).ToArray(), options, lr, clip,
                    refresh && e == epochs - 1);
                loss += step.Loss;
                kl += step.Kl;
                clipFrac += step.ClipFraction;
                entropy += step.Entropy;
                reply.GradNorm = step.GradNorm;
                batches++;
            }

            reply.EpochLosses.Add((float)(loss / batches));
            if (e == epochs - 1)
            {
                (reply.PolicyLoss, reply.Kl, reply.ClipFraction, reply.Entropy) = ((float)(loss / batches), (float)(kl / batches), (float)(clipFrac / batches), (float)(entropy / batches));
            }
        }

        reply.HiddenStatesRefreshed = refresh && items.Any(i => i.Entry is not null);
        foreach (var i in items.Where(i => i.Entry is not null)) state.Store.Resize(i.Entry!);
        return reply;
    }

    private static List<OptItem> Resolve(ServerState state, List<PolicyItem> raw)
    {
        var ids = raw.Where(i => i.SourceCase == PolicyItem.SourceOneofCase.RolloutId).Select(i => i.RolloutId).ToList();
        var found = state.Store.GetAll(ids, "Optimize rollout_id").ToDictionary(r => r.Id, StringComparer.Ordinal);
        var withAdv = raw.Count(i => i.SignalCase == PolicyItem.SignalOneofCase.Advantage);
        if (withAdv != 0 && withAdv != raw.Count) throw new InvalidInputException($"{withAdv} of {raw.Count} items carry an advantage and the others a reward (or neither); do not mix");
        return raw.Select((it, n) =>
        {
            var field = $"items[{n}]";
            float? a = it.SignalCase == PolicyItem.SignalOneofCase.Advantage ? it.Advantage : null;
            float? r = it.SignalCase == PolicyItem.SignalOneofCase.Reward ? it.Reward : null;
            if (a is null && r is null) throw new InvalidInputException($"{field} has neither advantage nor reward");
            if (!float.IsFinite(a ?? r!.Value)) throw new InvalidInputException($"{field}: {(a is null ? "reward" : "advantage")} is {a ?? r}; NaN and Inf are rejected");
            if (it.SourceCase == PolicyItem.SourceOneofCase.RolloutId)
            {
                var s = found[it.RolloutId];
                return new OptItem(s.PromptTokens, s.ResponseTokens, s.Logprobs, s.Temperature, s, it.GroupId, a, r);
            }

            var inl = it.Inline ?? throw new InvalidInputException($"{field} has neither rollout_id nor inline");
            int[] p = [.. inl.PromptTokenIds], resp = [.. inl.ResponseTokenIds];
            if (p.Length == 0 || resp.Length == 0) throw new InvalidInputException($"{field}.inline needs prompt_token_ids and response_token_ids");
            state.Policy.CheckTokens(p, $"{field}.inline.prompt_token_ids");
            state.Policy.CheckTokens(resp, $"{field}.inline.response_token_ids");
            state.Policy.CheckLength(p.Length + resp.Length, $"{field}.inline (prompt + response)");
            float[]? oldLp = inl.OldLogprobs.Count == 0 ? null : [.. inl.OldLogprobs];
            if (oldLp is not null && oldLp.Length != resp.Length) throw new InvalidInputException($"{field}.inline.old_logprobs has {oldLp.Length} values for {resp.Length} response tokens");
            if (oldLp is not null && TensorCodec.IndexOfNonFinite(oldLp) is var bad and >= 0) throw new InvalidInputException($"{field}.inline.old_logprobs[{bad}] is {oldLp[bad]}; NaN and Inf are rejected");
            return new OptItem(p, resp, oldLp, 1f, null, it.GroupId, a, r);
        }).ToList();
    }

    private static float[] ComputeAdvantages(List<OptItem> items, OptimizeConfig c)
    {
        if (items[0].Advantage is not null) return items.Select(i => i.Advantage!.Value).ToArray();
        var eps = c.HasAdvantageEpsilon ? c.AdvantageEpsilon : 1e-4f;
        var estimator = c.Algorithm == Algorithm.Rloo ? AdvantageEstimator.Rloo : AdvantageEstimator.Grpo;
        var scale = c.RewardScaling switch { RewardScaling.None => AdvantageScale.None, RewardScaling.Batch => AdvantageScale.None, _ => AdvantageScale.Group };
        var adv = new float[items.Count];
        foreach (var group in Enumerable.Range(0, items.Count).GroupBy(i => items[i].Group))
        {
            var idx = group.ToArray();
            if (idx.Length < 2) throw new InvalidInputException($"group '{group.Key}' has {idx.Length} item; rewards need groups of at least 2 (set group_id)");
            var r = idx.Select(i => items[i].Reward!.Value).ToArray();
            var a = new float[idx.Length];
            Advantages.Compute(r, idx.Length, new AdvantageOptions(estimator, scale, true, eps), a);
            for (var j = 0; j < idx.Length; j++) adv[idx[j]] = a[j];
        }

        if (c.RewardScaling == RewardScaling.Batch && estimator == AdvantageEstimator.Grpo)
        {
            var rs = items.Select(i => (double)i.Reward!.Value).ToArray();
            var mean = rs.Average();
            var std = Math.Sqrt(rs.Sum(x => (x - mean) * (x - mean)) / Math.Max(1, rs.Length - 1));
            for (var i = 0; i < adv.Length; i++) adv[i] = (float)(adv[i] / (std + eps));
        }

        return adv;
    }

    private static PolicyLossOptions LossOptions(OptimizeConfig c)
    {
        var eps = c.HasClipEpsilon ? c.ClipEpsilon : 0.2f;
        float? high = c.HasClipEpsilonHigh ? c.ClipEpsilonHigh : null;
        var beta = c.HasBeta ? c.Beta : 0.04f;
        var agg = c.Aggregation switch
        {
            ApiAggregation.TokenMean => Alignment.LossAggregation.Bnpo,
            ApiAggregation.ConstantNorm => Alignment.LossAggregation.DrGrpo,
            _ => Alignment.LossAggregation.Grpo,
        };
        var o = new PolicyLossOptions(eps, high, beta, agg);
        try
        {
            o.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidInputException($"config: {e.Message}");
        }

        return o;
    }
}
