using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Server streaming: read one request, the handler writes any number of responses.</summary>
internal sealed class ServerStreamingMethodBinding<TRequest, TResponse> : MethodBinding<TRequest, ServerStreamingServerMethod<TRequest, TResponse>>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public ServerStreamingMethodBinding(MethodDescriptor method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        : base(method, handler)
    {
    }

    protected override bool StreamingRequest => false;

    protected override ServerStreamingServerMethod<TRequest, TResponse> Intercept(ServerInterceptor interceptor, ServerStreamingServerMethod<TRequest, TResponse> next) =>
        (request, stream, context) => interceptor.ServerStreamingServerHandler(request, stream, context, next);

    protected override async Task InvokeAsync(HttpServerCallContext call, ServerStreamingServerMethod<TRequest, TResponse> chain)
    {
        var request = await ReadSingleRequestAsync(call, Parser).ConfigureAwait(false);
        await chain(request, new HttpResponseStreamWriter<TResponse>(call), call).ConfigureAwait(false);
        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
