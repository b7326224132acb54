using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Unary call: read one request, run the chain, write one response and the status.</summary>
internal sealed class UnaryMethodBinding<TRequest, TResponse> : MethodBinding
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly UnaryServerMethod<TRequest, TResponse> _handler;
    private readonly MessageParser<TRequest> _parser;

    public UnaryMethodBinding(MethodDescriptor method, UnaryServerMethod<TRequest, TResponse> handler)
        : base(method)
    {
        _handler = handler;
        _parser = ParserOf<TRequest>(method.InputType);
    }

    protected override bool StreamingRequest => false;

    protected override Func<HttpServerCallContext, Task> CreateInvoker(ServerInterceptor[] interceptors)
    {
        var chain = _handler;
        for (var i = interceptors.Length - 1; i >= 0; i--)
        {
            var (interceptor, next) = (interceptors[i], chain);
            chain = (request, context) => interceptor.UnaryServerHandler(request, context, next);
        }

        return call => InvokeAsync(call, chain);
    }

    private async Task InvokeAsync(HttpServerCallContext call, UnaryServerMethod<TRequest, TResponse> chain)
    {
        var request = await ReadSingleRequestAsync(call, _parser).ConfigureAwait(false);
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
