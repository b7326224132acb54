using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Alignment;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>One group member after validation: RM tokens, feedback h (Rows, D_p; 0 rows = none), annotation reward.</summary>
internal sealed record UpdateMember(int[] RmTokens, float[] Hidden, int Rows, float? Annotation, StoredRollout? Entry);

/// <summary>A validated Update call.</summary>
internal sealed record UpdatePlan(
    VariantSettings Settings, List<List<UpdateMember>> Groups, float Omega, GrebtOptions Grebt,
    float LearningRate, float MaxGradNorm, int Steps, Schedule? Schedule);

/// <summary>
/// RewardModel.Update (docs/method.md section 3): maps the validated call to one R2M.Alignment
/// <see cref="R2MRewardModel.Update(GrebtBatch, RewardUpdateOptions, Action{int}?, CancellationToken)"/> on the
/// scratch head and publishes it as the next rm_version, as one <see cref="WriteGate"/> transaction. H_last
/// comes from the RTE cache or one batched backbone pass (the backbone is frozen).
/// </summary>
internal sealed class UpdateTrainer(RewardHost reward, RolloutStore store, HostedModels models, R2MServerOptions serverOptions, WriteGate writes, ServerMetrics metrics, ILogger<UpdateTrainer> logger)
{
    private const string Kind = "Update";

    public async Task<UpdateReply> RunAsync(IAsyncStreamReader<PreferenceGroup> requests, ServerCallContext call)
    {
        UpdateConfig? config = null;
        var groups = new List<PreferenceGroup>();
        while (await requests.MoveNext(call.CancellationToken).ConfigureAwait(false))
        {
            var g = requests.Current;
            if (config is null) config = g.Config ?? throw new InvalidInputException("the first PreferenceGroup must carry config");
            else if (g.Config is not null && !g.Config.Equals(config)) throw new InvalidInputException($"group '{g.GroupId}': config differs from the first message's config (it may only be repeated unchanged)");
            groups.Add(g);
        }

        if (config is null || groups.Count == 0) throw new InvalidInputException("Update received no preference groups");
        WriteReplies.Validate("config.request_id", config.RequestId);
        // The whole write, validation included, runs under the gate: a concurrent LoadCheckpoint/Reset clears the store.
        return await writes.RunAsync(Kind, config.RequestId, call,
            scope => Task.Run(() => Train(config, groups, scope), scope.Cancellation), reward.Rollback).ConfigureAwait(false);
    }

    private UpdateReply Train(UpdateConfig config, List<PreferenceGroup> groups, WriteScope scope)
    {
        var plan = UpdatePlanner.Plan(reward, store, models, serverOptions, config, groups);
        var members = plan.Groups.SelectMany(g => g).ToList();
        var rtes = reward.Rtes([.. members.Select(m => m.RmTokens)], [.. members.Select(m => m.Entry?.Id)], scope.Cancellation);
        var feedback = plan.Settings.UsesFeedback;
        var items = members.Select((m, i) => new RewardItem(
            feedback ? new RewardInput(rtes[i], m.Hidden, m.Rows) : new RewardInput(rtes[i], ReadOnlyMemory<float>.Empty, 0), plan.Omega, plan.Settings.Feedback)).ToList();
        // Pairs by the annotation reward, else (by id) the last reward Score gave the rollout; a group where a
        // member has neither picks its pair by the recomputed rewards (R2M.Alignment GrebtBatch).
        var batch = new GrebtBatch(items, [.. plan.Groups.Select(g => g.Count)], [.. members.Select(m => m.Annotation ?? m.Entry?.LastReward)]);
        var options = new RewardUpdateOptions(plan.Settings, plan.Grebt, plan.LearningRate, plan.MaxGradNorm, plan.Steps);
        var result = reward.Scratch.Update(batch, options, scope.AfterStep, scope.Cancellation);
        scope.Cancellation.ThrowIfCancellationRequested();

        var version = reward.Publish();
        if (plan.Schedule is { TotalSteps: > 0 } s) reward.LastSchedule = s;
        var first = result.Before;
        var reply = new UpdateReply
        {
            BtLoss = first.BtLoss, GreLoss = first.GreLoss, TotalLoss = first.Loss, RewardMargin = first.RewardMargin,
            RmVersion = version, Groups = (uint)plan.Groups.Count, Members = (uint)members.Count,
            Omega = feedback ? plan.Omega : 1f, Alpha = plan.Grebt.Alpha, GradNorm = result.GradNorm,
        };
        metrics.SetRewardLosses(reply.BtLoss, reply.GreLoss);
        ServerLog.RewardUpdated(logger, reply.RmVersion, reply.BtLoss, reply.GreLoss, plan.Groups.Count);
        return reply;
    }
}
