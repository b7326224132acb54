using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Bidirectional streaming: the handler reads and writes streams concurrently.</summary>
internal sealed class DuplexStreamingMethodBinding<TRequest, TResponse> : MethodBinding<TRequest, DuplexStreamingServerMethod<TRequest, TResponse>>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public DuplexStreamingMethodBinding(MethodDescriptor method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        : base(method, handler)
    {
    }

    protected override bool StreamingRequest => true;

    protected override DuplexStreamingServerMethod<TRequest, TResponse> Intercept(ServerInterceptor interceptor, DuplexStreamingServerMethod<TRequest, TResponse> next) =>
        (requests, responses, context) => interceptor.DuplexStreamingServerHandler(requests, responses, context, next);

    protected override async Task InvokeAsync(HttpServerCallContext call, DuplexStreamingServerMethod<TRequest, TResponse> chain)
    {
        var reader = new HttpRequestStreamReader<TRequest>(call, Parser);
        await chain(reader, new HttpResponseStreamWriter<TResponse>(call), call).ConfigureAwait(false);
        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
