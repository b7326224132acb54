using R2M.Alignment;
using R2M.Api.V1;
using R2M.Grpc;

namespace R2M.Server.Internal.Services;

/// <summary>Admin service (admin.proto): Info, checkpoints, Reset.</summary>
internal sealed class AdminService(ServerState state)
{
    public GrpcServiceDefinition CreateDefinition() =>
        new GrpcServiceDefinition(AdminReflection.Descriptor.Services[0])
            .AddUnary<InfoRequest, InfoReply>("Info", InfoAsync)
            .AddUnary<SaveCheckpointRequest, CheckpointReply>("SaveCheckpoint", SaveAsync)
            .AddUnary<LoadCheckpointRequest, CheckpointReply>("LoadCheckpoint", LoadAsync)
            .AddUnary<ResetRequest, ResetReply>("Reset", ResetAsync);

    private async Task<InfoReply> InfoAsync(InfoRequest request, ServerCallContext context)
    {
        if (request.WaitForWrites)
        {
            // Every write holds the admin gate from before it changes anything until it has
            // published its version, so passing through the gate orders this read after them.
            await state.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            state.AdminGate.Release();
        }

        var o = state.Options;
        var cfg = state.Reward.Config;
        var reply = new InfoReply
        {
            Policy = state.Policy.ToInfo(),
            RewardModel = state.Reward.Backbone.ToInfo(),
            RewardHead = new RewardHeadInfo { AttentionDim = (uint)cfg.AttnDim, FeedbackWidth = (uint)cfg.PolicyDim, TrainableParameterCount = (ulong)state.Reward.Trainer.Parameters.Length, AttentionHeads = (uint)cfg.Heads },
            PolicyVersion = state.PolicyVersion,
            RmVersion = state.RmVersion,
            Store = state.Store.ToInfo(),
            Limits = new ServerLimits
            {
                MaxReceiveMessageBytes = (uint)o.MaxReceiveMessageBytes, MaxSendMessageBytes = (uint)o.MaxSendMessageBytes,
                MaxSamplesPerPrompt = (uint)o.MaxSamplesPerPrompt, MaxRolloutsPerGenerate = (uint)o.MaxRolloutsPerGenerate,
                MaxScoreItemsInFlight = (uint)o.MaxScoreItemsInFlight, ApiKeyRequiredForAll = o.ApiKeyRequiredForAll && o.ApiKey is not null,
                ApiKeyConfigured = o.ApiKey is not null,
            },
            ServerVersion = typeof(AdminService).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
        };
        if (state.LastSchedule is { } s) reply.LastSchedule = s;
        return reply;
    }

    private async Task<CheckpointReply> SaveAsync(SaveCheckpointRequest request, ServerCallContext context)
    {
        var dir = CheckpointStore.Resolve(state.Options, request.Name, request.Path);
        await state.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            var bytes = CheckpointStore.Save(state, dir, request.ClientState);
            ServerLog.Checkpoint(state.Logger, "saved", dir, state.PolicyVersion, state.RmVersion, bytes);
            var reply = new CheckpointReply { Path = dir, PolicyVersion = state.PolicyVersion, RmVersion = state.RmVersion, Bytes = (ulong)bytes };
            if (state.LastSchedule is { } s) reply.LastSchedule = s;
            return reply;
        }
        finally
        {
            state.AdminGate.Release();
        }
    }

    private async Task<CheckpointReply> LoadAsync(LoadCheckpointRequest request, ServerCallContext context)
    {
        var dir = CheckpointStore.Resolve(state.Options, request.Name, request.Path);
        await state.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            var (bytes, client, schedule) = CheckpointStore.Load(state, dir, request.RewardModelOnly);
            ServerLog.Checkpoint(state.Logger, "loaded", dir, state.PolicyVersion, state.RmVersion, bytes);
            var reply = new CheckpointReply { Path = dir, PolicyVersion = state.PolicyVersion, RmVersion = state.RmVersion, Bytes = (ulong)bytes, ClientState = client };
            if (schedule is not null) reply.LastSchedule = schedule;
            return reply;
        }
        finally
        {
            state.AdminGate.Release();
        }
    }

    private async Task<ResetReply> ResetAsync(ResetRequest request, ServerCallContext context)
    {
        await state.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            await state.Policy.Gate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            try
            {
                state.InitialPolicy.CopyTo(state.Policy.Model.Parameters, 0);
            }
            finally
            {
                state.Policy.Gate.Release();
            }

            state.InitialPolicy.CopyTo(state.TrainerModel.Parameters, 0);
            state.PolicyAdam = new AdamWOptimizer(state.InitialPolicy.Length, state.PolicyAdam.Options);
            state.Reward.ResetTrainer(request.HasSeed ? request.Seed : null);
            state.Batcher.ResetNoise();
            state.Store.Clear();
            state.LastSchedule = null;
            // Versions keep increasing, so rewards from before the reset stay distinguishable.
            state.AdvanceVersions(0, 0);
            var (policyVersion, rmVersion) = (state.PolicyVersion, state.RmVersion);
            return new ResetReply { PolicyVersion = policyVersion, RmVersion = rmVersion };
        }
        finally
        {
            state.AdminGate.Release();
        }
    }
}
