using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Unary call: read one request, run the chain, write one response and the status.</summary>
internal sealed class UnaryMethodBinding<TRequest, TResponse> : MethodBinding<TRequest, UnaryServerMethod<TRequest, TResponse>>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public UnaryMethodBinding(MethodDescriptor method, UnaryServerMethod<TRequest, TResponse> handler)
        : base(method, handler)
    {
    }

    protected override bool StreamingRequest => false;

    protected override UnaryServerMethod<TRequest, TResponse> Intercept(ServerInterceptor interceptor, UnaryServerMethod<TRequest, TResponse> next) =>
        (request, context) => interceptor.UnaryServerHandler(request, context, next);

    protected override async Task InvokeAsync(HttpServerCallContext call, UnaryServerMethod<TRequest, TResponse> chain)
    {
        var request = await ReadSingleRequestAsync(call, Parser).ConfigureAwait(false);
        var response = await chain(request, call).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Handler of {Path} returned a null response.");
        if (call.Status.StatusCode == StatusCode.OK)
        {
            // No flush: the message and the trailers leave together.
            await call.WriteMessageAsync(response, flush: false).ConfigureAwait(false);
        }

        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
