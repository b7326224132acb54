using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Internal.Services;

/// <summary>Admin service (admin.proto): Info, checkpoints, Reset, on the generated base.</summary>
internal sealed class AdminService(ModelHost host, CheckpointDirectory checkpoints) : Admin.AdminBase
{
    private ServerState State => host.State;

    public override async Task<InfoReply> Info(InfoRequest request, ServerCallContext context)
    {
        if (request.WaitForWrites)
        {
            // Every write holds the admin gate from before it changes anything until it has
            // published its version, so passing through the gate orders this read after them.
            await State.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            State.AdminGate.Release();
        }

        var o = State.Options;
        var cfg = State.Reward.Config;
        var reply = new InfoReply
        {
            Policy = State.Policy.ToInfo(),
            RewardModel = State.Reward.Backbone.ToInfo(),
            RewardHead = new RewardHeadInfo { AttentionDim = (uint)cfg.AttnDim, FeedbackWidth = (uint)cfg.PolicyDim, TrainableParameterCount = (ulong)State.Reward.Trainer.Parameters.Length, AttentionHeads = (uint)cfg.Heads },
            PolicyVersion = State.PolicyVersion,
            RmVersion = State.RmVersion,
            Store = State.Store.ToInfo(),
            Limits = new ServerLimits
            {
                MaxReceiveMessageBytes = (uint)o.MaxReceiveMessageBytes, MaxSendMessageBytes = (uint)o.MaxSendMessageBytes,
                MaxSamplesPerPrompt = (uint)o.MaxSamplesPerPrompt, MaxRolloutsPerGenerate = (uint)o.MaxRolloutsPerGenerate,
                MaxScoreItemsInFlight = (uint)o.MaxScoreItemsInFlight, ApiKeyRequiredForAll = o.ApiKeyRequiredForAll && o.ApiKey is not null,
                ApiKeyConfigured = o.ApiKey is not null,
            },
            ServerVersion = typeof(AdminService).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
        };
        if (State.LastSchedule is { } s) reply.LastSchedule = s;
        return reply;
    }

    public override async Task<CheckpointReply> SaveCheckpoint(SaveCheckpointRequest request, ServerCallContext context)
    {
        var at = checkpoints.Resolve(request.Name, request.Path);
        await State.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            var saved = CheckpointStore.Save(State, checkpoints, at, request.ClientState);
            ServerLog.Checkpoint(State.Logger, "saved", saved.VersionDirectory, State.PolicyVersion, State.RmVersion, saved.Bytes);
            var reply = new CheckpointReply { Path = at.Directory, PolicyVersion = State.PolicyVersion, RmVersion = State.RmVersion, Bytes = (ulong)saved.Bytes };
            if (State.LastSchedule is { } s) reply.LastSchedule = s;
            return reply;
        }
        finally
        {
            State.AdminGate.Release();
        }
    }

    public override async Task<CheckpointReply> LoadCheckpoint(LoadCheckpointRequest request, ServerCallContext context)
    {
        var at = checkpoints.Resolve(request.Name, request.Path);
        await State.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            var (bytes, client, schedule) = CheckpointStore.Load(State, checkpoints, at, request.RewardModelOnly);
            ServerLog.Checkpoint(State.Logger, "loaded", at.Directory, State.PolicyVersion, State.RmVersion, bytes);
            var reply = new CheckpointReply { Path = at.Directory, PolicyVersion = State.PolicyVersion, RmVersion = State.RmVersion, Bytes = (ulong)bytes, ClientState = client };
            if (schedule is not null) reply.LastSchedule = schedule;
            return reply;
        }
        finally
        {
            State.AdminGate.Release();
        }
    }

    public override async Task<ResetReply> Reset(ResetRequest request, ServerCallContext context)
    {
        await State.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            await State.Policy.Gate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            try
            {
                State.InitialPolicy.CopyTo(State.Policy.Model.Parameters, 0);
            }
            finally
            {
                State.Policy.Gate.Release();
            }

            State.InitialPolicy.CopyTo(State.TrainerModel.Parameters, 0);
            State.PolicyAdam = new AdamWOptimizer(State.InitialPolicy.Length, State.PolicyAdam.Options);
            State.Reward.ResetTrainer(request.HasSeed ? request.Seed : null);
            State.Batcher.ResetNoise();
            State.Store.Clear();
            State.LastSchedule = null;
            // Versions keep increasing, so rewards from before the reset stay distinguishable.
            State.AdvanceVersions(0, 0);
            var (policyVersion, rmVersion) = (State.PolicyVersion, State.RmVersion);
            return new ResetReply { PolicyVersion = policyVersion, RmVersion = rmVersion };
        }
        finally
        {
            State.AdminGate.Release();
        }
    }
}
