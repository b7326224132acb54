using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using PairSelection = R2M.Alignment.PairSelection;

namespace R2M.Server.Internal;

/// <summary>One group member after validation: RM tokens, feedback h (Rows, D_p; 0 rows = none), annotation reward.</summary>
internal sealed record UpdateMember(int[] RmTokens, float[] Hidden, int Rows, float? Annotation, StoredRollout? Entry);

/// <summary>A validated Update call.</summary>
internal sealed record UpdatePlan(
    VariantSettings Settings, List<List<UpdateMember>> Groups, float Omega, GrebtOptions Grebt,
    float LearningRate, float MaxGradNorm, int Steps, Schedule? Schedule);

/// <summary>
/// One GREBT update (docs/method.md section 3) of the trainer head with R2M.Alignment's head, GREBT
/// loss and AdamW, then one atomic publish of the new head snapshot. The backbone is frozen: H_last
/// comes from the RTE cache of stored rollouts or one batched backbone pass.
/// </summary>
internal static class UpdateTrainer
{
    private const string ReplyKind = "update";

    public static async Task<UpdateReply> RunAsync(ServerState state, IAsyncStreamReader<PreferenceGroup> requests, CancellationToken ct)
    {
        UpdateConfig? config = null;
        var groups = new List<PreferenceGroup>();
        while (await requests.MoveNext(ct).ConfigureAwait(false))
        {
            var g = requests.Current;
            if (config is null) config = g.Config ?? throw new InvalidInputException("the first PreferenceGroup must carry config");
            else if (g.Config is not null && !g.Config.Equals(config)) throw new InvalidInputException($"group '{g.GroupId}': config differs from the first message's config (it may only be repeated unchanged)");
            groups.Add(g);
        }

        if (config is null || groups.Count == 0) throw new InvalidInputException("Update received no preference groups");
        WriteReplies.Validate("config.request_id", config.RequestId);
        await state.AdminGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (state.Replies.TryGet<UpdateReply>(ReplyKind, config.RequestId, out var earlier))
            {
                return earlier; // a re-send of an applied call: not applied twice
            }

            var plan = UpdatePlanner.Plan(state, config, groups);
            var reply = await TrainAsync(state, plan, ct).ConfigureAwait(false);
            state.Metrics.SetRewardLosses(reply.BtLoss, reply.GreLoss);
            ServerLog.RewardUpdated(state.Logger, reply.RmVersion, reply.BtLoss, reply.GreLoss, plan.Groups.Count);
            state.Replies.Remember(ReplyKind, config.RequestId, reply);
            return reply;
        }
        finally
        {
            state.AdminGate.Release();
        }
    }

    private static async Task<UpdateReply> TrainAsync(ServerState state, UpdatePlan plan, CancellationToken ct)
    {
        var engine = state.Reward;
        var members = plan.Groups.SelectMany(g => g).ToList();
        var rtes = await RtesAsync(engine, members, ct).ConfigureAwait(false);
        var head = engine.Trainer;
        var noise = plan.Settings.Feedback == FeedbackSource.Noise;
        var feedback = plan.Settings.UsesFeedback;
        var inputs = members.Select((m, i) => new RewardInput(rtes[i], !feedback ? [] : noise ? RewardEngine.NoiseLike(m.Hidden, engine.TrainNoise) : m.Hidden, feedback ? m.Rows : 0)).ToList();
        int offset = plan.Settings.Training == RmTraining.PhiOnly ? head.PhiOffset : 0, count = head.Parameters.Length - offset;
        var lr = plan.LearningRate;
        UpdateReply? first = null;
        float gradNorm = 0;
        float[]? selection = null;
        for (var step = 0; step < plan.Steps; step++)
        {
            ct.ThrowIfCancellationRequested();
            var rewards = new float[members.Count];
            var acts = new R2MHeadActivations[members.Count];
            for (var i = 0; i < members.Count; i++)
            {
                // Members without feedback are scored at omega 1 (the vanilla score), as Score does.
                var omega = inputs[i].Rows > 0 ? plan.Omega : 1f;
                acts[i] = head.Forward([inputs[i]], omega, rewards.AsSpan(i, 1));
            }

            selection ??= Selection(plan, rewards);
            var d = new float[members.Count];
            var losses = Losses(plan, rewards, selection, d);
            first ??= losses;
            head.ZeroGrad();
            for (var i = 0; i < members.Count; i++) head.Backward(acts[i], d.AsSpan(i, 1));
            gradNorm = plan.MaxGradNorm > 0
                ? Tensors.GradClip.ClipByGlobalNorm(head.Gradients.AsSpan(offset, count), plan.MaxGradNorm)
                : Tensors.GradClip.GlobalNorm(head.Gradients.AsSpan(offset, count));
            engine.Optimizer.Update(head.Parameters, head.Gradients, lr, offset, count);
        }

        var version = state.PublishReward();
        if (plan.Schedule is { TotalSteps: > 0 } s) state.LastSchedule = s;
        first!.RmVersion = version;
        first.Groups = (uint)plan.Groups.Count;
        first.Members = (uint)members.Count;
        first.Omega = feedback ? plan.Omega : 1f;
        first.Alpha = plan.Grebt.Alpha;
        first.GradNorm = gradNorm;
        return first;
    }

    /// <summary>
    /// Rewards that pick w and l per group: annotation rewards (or, for by-id members, the last reward
    /// Score gave them); a group where some member has neither uses the recomputed rewards.
    /// </summary>
    private static float[] Selection(UpdatePlan plan, float[] recomputed)
    {
        var sel = (float[])recomputed.Clone();
        if (plan.Grebt.Selection == PairSelection.RecomputedRewards) return sel;
        var o = 0;
        foreach (var g in plan.Groups)
        {
            var given = g.Select(m => m.Annotation ?? m.Entry?.LastReward).ToArray();
            if (given.All(x => x is not null))
            {
                for (var i = 0; i < g.Count; i++) sel[o + i] = given[i]!.Value;
            }

            o += g.Count;
        }

        return sel;
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
            // The loss is the mean over groups: scale each group's gradient by 1/G.
            for (var i = 0; i < k; i++) d[o + i] /= g;
            bt += res.BtLoss / g;
            gre += res.GreLoss / g;
            total += res.Loss / g;
            int w = 0, l = 0;
            for (var i = 1; i < k; i++)
            {
                if (sel[i] > sel[w]) w = i;
                if (sel[i] < sel[l]) l = i;
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
