using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Server streaming: read one request, the handler writes any number of responses.</summary>
internal sealed class ServerStreamingMethodBinding<TRequest, TResponse> : MethodBinding
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ServerStreamingServerMethod<TRequest, TResponse> _handler;
    private readonly MessageParser<TRequest> _parser;

    public ServerStreamingMethodBinding(MethodDescriptor method, ServerStreamingServerMethod<TRequest, TResponse> handler)
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
            chain = (request, stream, context) => interceptor.ServerStreamingServerHandler(request, stream, context, next);
        }

        return call => InvokeAsync(call, chain);
    }

    private async Task InvokeAsync(HttpServerCallContext call, ServerStreamingServerMethod<TRequest, TResponse> chain)
    {
        var request = await ReadSingleRequestAsync(call, _parser).ConfigureAwait(false);
        await chain(request, new HttpResponseStreamWriter<TResponse>(call), call).ConfigureAwait(false);
        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
