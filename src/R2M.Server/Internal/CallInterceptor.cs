using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal;

/// <summary>
/// The outermost interceptor of every call: turns domain exceptions into statuses through
/// <see cref="ErrorMap"/> (the one place), logs rejected and failed calls, and records request
/// counts and latencies. The API key check runs inside it (Hosting.AccessInterceptor), so rejected
/// calls are logged and counted here too.
/// </summary>
internal sealed class CallInterceptor(R2MServerOptions options, ServerMetrics metrics, ILogger<CallInterceptor> logger, TimeProvider time) : Interceptor
{
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
            var status = ErrorMap.ToStatus(e, context.CancellationToken.IsCancellationRequested, options.DetailedErrors);
            code = status.StatusCode;
            if (code == StatusCode.Internal && e is not RpcException)
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
