namespace R2M.Grpc;

/// <summary>
/// Wraps every server call. Override the shapes you care about; each default simply calls
/// <c>continuation</c>. Interceptors run in the order they were added to
/// <see cref="GrpcServerOptions.Interceptors"/> (the first added is outermost). Throw an
/// <see cref="RpcException"/> to end the call with that status.
/// </summary>
public abstract class ServerInterceptor
{
    public virtual Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
        where TRequest : class
        where TResponse : class
        => continuation(request, context);

    public virtual Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
        where TRequest : class
        where TResponse : class
        => continuation(request, responseStream, context);

    public virtual Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
        where TRequest : class
        where TResponse : class
        => continuation(requestStream, context);

    public virtual Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
        where TRequest : class
        where TResponse : class
        => continuation(requestStream, responseStream, context);
}
