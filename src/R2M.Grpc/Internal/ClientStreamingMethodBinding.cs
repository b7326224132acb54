using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Client streaming: the handler reads the request stream and returns one response.</summary>
internal sealed class ClientStreamingMethodBinding<TRequest, TResponse> : MethodBinding<TRequest, ClientStreamingServerMethod<TRequest, TResponse>>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public ClientStreamingMethodBinding(MethodDescriptor method, ClientStreamingServerMethod<TRequest, TResponse> handler)
        : base(method, handler)
    {
    }

    protected override bool StreamingRequest => true;

    protected override ClientStreamingServerMethod<TRequest, TResponse> Intercept(ServerInterceptor interceptor, ClientStreamingServerMethod<TRequest, TResponse> next) =>
        (stream, context) => interceptor.ClientStreamingServerHandler(stream, context, next);

    protected override async Task InvokeAsync(HttpServerCallContext call, ClientStreamingServerMethod<TRequest, TResponse> chain)
    {
        var reader = new HttpRequestStreamReader<TRequest>(call, Parser);
        var response = await chain(reader, call).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Handler of {Path} returned a null response.");
        if (call.Status.StatusCode == StatusCode.OK)
        {
            await call.WriteMessageAsync(response, flush: false).ConfigureAwait(false);
        }

        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
