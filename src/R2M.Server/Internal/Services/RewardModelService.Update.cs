using R2M.Api.V1;
using R2M.Grpc;

namespace R2M.Server.Internal.Services;

internal sealed partial class RewardModelService
{
    private Task<UpdateReply> UpdateAsync(IAsyncStreamReader<PreferenceGroup> requests, ServerCallContext context) =>
        UpdateTrainer.RunAsync(state, requests, context.CancellationToken);
}
