using Grpc.Core;
using Grpc.Core.Interceptors;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// The API key check of every call, from the access each method declares in the protos
/// (<see cref="MethodAccessTable"/>): UNAUTHENTICATED, naming the method, before the handler runs.
/// </summary>
internal sealed class AccessInterceptor(MethodAccessTableHolder table, ApiKeyCheck key) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Check(ServerCallContext context)
    {
        if (key.Applies(table.Table.For(context.Method)))
        {
            var values = context.RequestHeaders.Where(e => e.Key == "authorization" && !e.IsBinary).Select(e => e.Value).ToList();
            key.Demand(values, context.Method.TrimStart('/'));
        }
    }
}

/// <summary>The access table, built once the endpoints are mapped (DI holds it; the interceptor reads it).</summary>
internal sealed class MethodAccessTableHolder
{
    private MethodAccessTable? _table;

    public MethodAccessTable Table => _table ?? throw new InvalidOperationException("the gRPC access table was not built at start-up");

    public void Set(MethodAccessTable table) => _table = table;
}
