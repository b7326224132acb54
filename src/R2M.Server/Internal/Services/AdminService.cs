using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Api.V1;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Internal.Services;

/// <summary>Admin service (admin.proto): Info, checkpoints, Reset, on the generated base.</summary>
internal sealed class AdminService(
    ModelHost host, PolicyHost policy, RewardHost reward, HostedModels models, RolloutStore store, WriteGate writes,
    CheckpointContent content, CheckpointDirectory checkpoints, R2MServerOptions options, ILogger<AdminService> logger) : Admin.AdminBase
{
    public override async Task<InfoReply> Info(InfoRequest request, ServerCallContext context)
    {
        host.EnsureReady();
        if (request.WaitForWrites)
        {
            // Every write holds the gate from before it changes anything until it has published its
            // version, so passing through the gate orders this read after them.
            await writes.WaitIdleAsync(context.CancellationToken).ConfigureAwait(false);
        }

        var o = options;
        var cfg = reward.Config;
        var reply = new InfoReply
        {
            Policy = models.Policy.ToInfo(),
            RewardModel = models.Reward.ToInfo(),
            RewardHead = new RewardHeadInfo { AttentionDim = (uint)cfg.AttnDim, FeedbackWidth = (uint)cfg.PolicyDim, TrainableParameterCount = (ulong)reward.Served.Head.Parameters.Length, AttentionHeads = (uint)cfg.Heads },
            PolicyVersion = policy.Version,
            RmVersion = reward.Version,
            Store = store.ToInfo(),
            Limits = new ServerLimits
            {
                MaxReceiveMessageBytes = (uint)o.MaxReceiveMessageBytes, MaxSendMessageBytes = (uint)o.MaxSendMessageBytes,
                MaxSamplesPerPrompt = (uint)o.MaxSamplesPerPrompt, MaxRolloutsPerGenerate = (uint)o.MaxRolloutsPerGenerate,
                MaxScoreItemsInFlight = (uint)o.MaxScoreItemsInFlight, ApiKeyRequiredForAll = o.ApiKeyRequiredForAll && o.ApiKey is not null,
                ApiKeyConfigured = o.ApiKey is not null,
            },
            ServerVersion = typeof(AdminService).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
        };
        if (reward.LastSchedule is { } s) reply.LastSchedule = s;
        return reply;
    }

    /// <summary>Saves the served snapshot (<see cref="CheckpointContent"/>), never a scratch copy.</summary>
    public override Task<CheckpointReply> SaveCheckpoint(SaveCheckpointRequest request, ServerCallContext context)
    {
        host.EnsureReady();
        var at = checkpoints.Resolve(request.Name, request.Path);
        return writes.RunAsync(() =>
        {
            var saved = CheckpointStore.Save(content, checkpoints, at, request.ClientState);
            ServerLog.Checkpoint(logger, "saved", saved.VersionDirectory, policy.Version, reward.Version, saved.Bytes);
            var reply = new CheckpointReply { Path = at.Directory, PolicyVersion = policy.Version, RmVersion = reward.Version, Bytes = (ulong)saved.Bytes };
            if (reward.LastSchedule is { } s) reply.LastSchedule = s;
            return Task.FromResult(reply);
        }, context.CancellationToken);
    }

    public override Task<CheckpointReply> LoadCheckpoint(LoadCheckpointRequest request, ServerCallContext context)
    {
        host.EnsureReady();
        var at = checkpoints.Resolve(request.Name, request.Path);
        return writes.RunAsync(() =>
        {
            var (bytes, client, schedule) = CheckpointStore.Load(content, checkpoints, at, request.RewardModelOnly);
            ServerLog.Checkpoint(logger, "loaded", at.Directory, policy.Version, reward.Version, bytes);
            var reply = new CheckpointReply { Path = at.Directory, PolicyVersion = policy.Version, RmVersion = reward.Version, Bytes = (ulong)bytes, ClientState = client };
            if (schedule is not null) reply.LastSchedule = schedule;
            return Task.FromResult(reply);
        }, context.CancellationToken);
    }

    /// <summary>Startup weights, fresh moments, both noise streams' startup states, empty store; versions keep increasing.</summary>
    public override Task<ResetReply> Reset(ResetRequest request, ServerCallContext context)
    {
        host.EnsureReady();
        return writes.RunAsync(() =>
        {
            policy.ResetScratch();
            reward.ResetScratch(request.HasSeed ? request.Seed : null);
            store.Clear();
            reward.Cache.Clear();
            reward.LastSchedule = null;
            // Published like a write, so rewards from before the reset stay distinguishable by version.
            var reply = new ResetReply { PolicyVersion = policy.Publish(), RmVersion = reward.Publish() };
            return Task.FromResult(reply);
        }, context.CancellationToken);
    }
}
