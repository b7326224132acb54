using Grpc.Core;
using Grpc.Core.Interceptors;

namespace R2M.Server.Internal;

/// <summary>
/// The outermost interceptor of every call: turns exceptions into statuses and logs them through
/// <see cref="ErrorReporter"/> (<see cref="ErrorMap"/> is the one place statuses are chosen), and
/// records request counts and latencies by status code: a client that went away counts as
/// Cancelled, never as a server error. The API key check and the request checks run inside it
/// (Hosting.AccessInterceptor, Hosting.RequestInterceptor), so their rejections are logged and
/// counted here too.
/// </summary>
internal sealed class CallInterceptor(ErrorReporter errors, ServerMetrics metrics, TimeProvider time) : Interceptor
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
            var status = errors.ForCall(context.Method, e, context.CancellationToken.IsCancellationRequested);
            code = status.StatusCode;
            throw e is RpcException r && r.Status.Detail == status.Detail ? r : new RpcException(status, (e as RpcException)?.Trailers ?? new Metadata());
        }
        finally
        {
            metrics.RecordRequest(context.Method, code.ToString(), time.GetElapsedTime(start).TotalSeconds);
        }
    }
}
