using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Bidirectional streaming: the handler reads and writes streams concurrently.</summary>
internal sealed class DuplexStreamingMethodBinding<TRequest, TResponse> : MethodBinding
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly DuplexStreamingServerMethod<TRequest, TResponse> _handler;
    private readonly MessageParser<TRequest> _parser;

    public DuplexStreamingMethodBinding(MethodDescriptor method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        : base(method)
    {
        _handler = handler;
        _parser = ParserOf<TRequest>(method.InputType);
    }

    protected override bool StreamingRequest => true;

    protected override Func<HttpServerCallContext, Task> CreateInvoker(ServerInterceptor[] interceptors)
    {
        var chain = _handler;
        for (var i = interceptors.Length - 1; i >= 0; i--)
        {
            var (interceptor, next) = (interceptors[i], chain);
            chain = (requests, responses, context) => interceptor.DuplexStreamingServerHandler(requests, responses, context, next);
        }

        return call => InvokeAsync(call, chain);
    }

    private async Task InvokeAsync(HttpServerCallContext call, DuplexStreamingServerMethod<TRequest, TResponse> chain)
    {
        var reader = new HttpRequestStreamReader<TRequest>(call, _parser);
        await chain(reader, new HttpResponseStreamWriter<TResponse>(call), call).ConfigureAwait(false);
        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
