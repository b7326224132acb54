using System.Diagnostics;
using Microsoft.Extensions.Logging;
using R2M.Grpc;

namespace R2M.Server.Internal;

/// <summary>
/// Wraps every call: turns domain exceptions into statuses through <see cref="ErrorMap"/> and
/// records request counts and latencies. The API key is checked by the
/// <see cref="BearerTokenAuthInterceptor"/> inside it (<see cref="CreateAuth"/>), so rejected calls
/// are logged and counted here too.
/// </summary>
internal sealed class CallInterceptor(R2MServerOptions options, ServerMetrics metrics, ILogger logger, TimeProvider time) : ServerInterceptor
{
    private static readonly HashSet<string> Mutating = new(StringComparer.Ordinal)
    {
        "/r2m.v1.Policy/Optimize",
        "/r2m.v1.RewardModel/Update",
        "/r2m.v1.Admin/SaveCheckpoint",
        "/r2m.v1.Admin/LoadCheckpoint",
        "/r2m.v1.Admin/Reset",
    };

    /// <summary>
    /// The API key check, or null without a key: Update, Optimize, checkpoints and Reset always
    /// need it; with ApiKeyRequiredForAll every call does except health (load balancers and
    /// container probes work without the key).
    /// </summary>
    public static BearerTokenAuthInterceptor? CreateAuth(R2MServerOptions options) =>
        options.ApiKey is not { } key ? null : new BearerTokenAuthInterceptor(
            BearerTokenAuthInterceptor.ConstantTimeEquals(key),
            method => Mutating.Contains(method)
                || (options.ApiKeyRequiredForAll && !method.StartsWith("/grpc.health.", StringComparison.Ordinal)),
            credentialName: "API key");

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, () => continuation(request, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, async () =>
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            return true;
        });

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, () => continuation(requestStream, context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, async () =>
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
            return true;
        });

    private async Task<T> RunAsync<T>(ServerCallContext context, Func<Task<T>> body)
    {
        var start = time.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var status = ErrorMap.ToStatus(e, options.DetailedErrors);
            code = status.StatusCode;
            if (code == StatusCode.Internal)
            {
                ServerLog.CallFailed(logger, context.Method, e);
            }
            else
            {
                ServerLog.CallRejected(logger, context.Method, code, status.Detail);
            }

            throw e as RpcException ?? new RpcException(status);
        }
        finally
        {
            metrics.RecordRequest(context.Method, code.ToString(), time.GetElapsedTime(start).TotalSeconds);
        }
    }
}
