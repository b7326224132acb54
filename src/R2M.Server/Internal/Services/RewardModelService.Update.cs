using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Internal.Services;

internal sealed partial class RewardModelService
{
    public override Task<UpdateReply> Update(IAsyncStreamReader<PreferenceGroup> requests, ServerCallContext context)
    {
        host.EnsureReady();
        return updates.RunAsync(requests, context);
    }
}
