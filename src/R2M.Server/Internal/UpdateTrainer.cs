using R2M.Alignment;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>
/// One GREBT update (R2M-METHOD.md section 3) on the private trainer head, then one atomic publish
/// of the new head snapshot. The backbone is frozen: H_last comes from the RTE cache of stored
/// rollouts or one batched backbone pass; only cross-attention and phi run again.
/// </summary>
internal static class UpdateTrainer
{
    public static async Task<UpdateReply> RunAsync(ServerState state, UpdatePlan plan, CancellationToken ct)
    {
        var engine = state.Reward;
        var members = plan.Groups.SelectMany(g => g).ToList();
        var rtes = await RtesAsync(engine, members, ct).ConfigureAwait(false);
        await engine.TrainGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var head = engine.Trainer;
            var noise = plan.Variant == VariantConfig.R2MWithNoise;
            var inputs = members.Select((m, i) => new RewardInput(rtes[i], noise ? ScoreBatcher.NoiseLike(m.Hidden) : m.Hidden, m.Rows)).ToList();
            var phiOnly = plan.Variant == VariantConfig.IterativeRmHead;
            int offset = phiOnly ? head.PhiOffset : 0, count = head.Parameters.Length - offset;
            float[]? selection = members.All(m => m.Annotation is not null) ? members.Select(m => m.Annotation!.Value).ToArray() : null;
            UpdateReply? first = null;
            float gradNorm = 0;
            for (var step = 0; step < plan.Steps; step++)
            {
                ct.ThrowIfCancellationRequested();
                var rewards = new float[members.Count];
                var acts = new R2MHeadActivations[members.Count];
                for (var i = 0; i < members.Count; i++)
                {
                    var omega = inputs[i].Rows > 0 ? plan.Omega : 1f;
                    acts[i] = head.Forward([inputs[i]], omega, rewards.AsSpan(i, 1));
                }

                // Members without annotation rewards: the rewards before this update pick w and l.
                selection ??= (float[])rewards.Clone();
                var d = new float[members.Count];
                var losses = Losses(plan, rewards, selection, d);
                first ??= losses;
                head.ZeroGrad();
                for (var i = 0; i < members.Count; i++) head.Backward(acts[i], d.AsSpan(i, 1));
                gradNorm = GradClip.ClipGlobalNorm(head.Gradients.AsSpan(offset, count), plan.MaxGradNorm);
                engine.Optimizer.Update(head.Parameters, head.Gradients, plan.LearningRate, offset, count);
            }

            var version = state.PublishReward();
            if (plan.Schedule is { TotalSteps: > 0 } s) state.LastSchedule = s;
            first!.RmVersion = version;
            first.Groups = (uint)plan.Groups.Count;
            first.Members = (uint)members.Count;
            first.Omega = plan.Omega;
            first.Alpha = plan.Grebt.Alpha;
            first.GradNorm = gradNorm;
            state.Metrics.SetRewardLosses(first.BtLoss, first.GreLoss);
            ServerLog.RewardUpdated(state.Logger, version, first.BtLoss, first.GreLoss, plan.Groups.Count);
            return first;
        }
        finally
        {
            engine.TrainGate.Release();
        }
    }

    /// <summary>Mean GREBT losses over groups (each group with its own K) and dRewards (overwritten).</summary>
    private static UpdateReply Losses(UpdatePlan plan, float[] rewards, float[] selection, float[] d)
    {
        double bt = 0, gre = 0, total = 0, margin = 0;
        var g = plan.Groups.Count;
        var o = 0;
        foreach (var group in plan.Groups)
        {
            var k = group.Count;
            var r = rewards.AsSpan(o, k);
            var sel = selection.AsSpan(o, k);
            var res = GrebtLoss.Compute(r, sel, k, plan.Grebt, d.AsSpan(o, k));
            for (var i = 0; i < k; i++) d[o + i] /= g;
            bt += res.BtLoss / g;
            gre += res.GreLoss / g;
            total += res.Loss / g;
            var pick = plan.Grebt.Selection == Alignment.PairSelection.RecomputedRewards ? r : sel;
            int w = 0, l = 0;
            for (var i = 1; i < k; i++)
            {
                if (pick[i] > pick[w]) w = i;
                if (pick[i] < pick[l]) l = i;
            }

            margin += (r[w] - r[l]) / g;
            o += k;
        }

        return new UpdateReply { BtLoss = (float)bt, GreLoss = (float)gre, TotalLoss = (float)total, RewardMargin = (float)margin };
    }

    private static async Task<float[][]> RtesAsync(RewardEngine engine, List<UpdateMember> members, CancellationToken ct)
    {
        var rtes = new float[members.Count][];
        var missing = new List<int>();
        for (var i = 0; i < members.Count; i++)
        {
            if (members[i].Entry?.Rte is { } cached) rtes[i] = cached;
            else missing.Add(i);
        }

        if (missing.Count > 0)
        {
            var computed = await engine.ComputeRtesAsync(missing.Select(i => members[i].RmTokens).ToList(), ct).ConfigureAwait(false);
            for (var j = 0; j < missing.Count; j++)
            {
                rtes[missing[j]] = computed[j];
                if (members[missing[j]].Entry is { } e) e.Rte = computed[j];
            }
        }

        return rtes;
    }
}
