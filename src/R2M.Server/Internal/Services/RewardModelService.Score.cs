using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Internal.Services;

/// <summary>RewardModel service (reward_model.proto): thin handlers over the reward model services, on the generated base.</summary>
internal sealed partial class RewardModelService(ModelHost host, ScoreServices scoring, UpdateTrainer updates) : RewardModel.RewardModelBase
{
    /// <summary>Items validated and assembled by <see cref="ScoreStream"/>, scored by the shared batcher.</summary>
    public override Task Score(IAsyncStreamReader<ScoreRequest> requests, IServerStreamWriter<ScoreReply> responses, ServerCallContext context)
    {
        host.EnsureReady();
        return ScoreStream.RunAsync(scoring, requests, responses, context);
    }
}
