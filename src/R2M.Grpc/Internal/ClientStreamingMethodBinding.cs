using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>Client streaming: the handler reads the request stream and returns one response.</summary>
internal sealed class ClientStreamingMethodBinding<TRequest, TResponse> : MethodBinding
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly ClientStreamingServerMethod<TRequest, TResponse> _handler;
    private readonly MessageParser<TRequest> _parser;

    public ClientStreamingMethodBinding(MethodDescriptor method, ClientStreamingServerMethod<TRequest, TResponse> handler)
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
            chain = (stream, context) => interceptor.ClientStreamingServerHandler(stream, context, next);
        }

        return call => InvokeAsync(call, chain);
    }

    private async Task InvokeAsync(HttpServerCallContext call, ClientStreamingServerMethod<TRequest, TResponse> chain)
    {
        var reader = new HttpRequestStreamReader<TRequest>(call, _parser);
        var response = await chain(reader, call).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Handler of {Path} returned a null response.");
        if (call.Status.StatusCode == StatusCode.OK)
        {
            await call.WriteMessageAsync(response, flush: false).ConfigureAwait(false);
        }

        await call.FinishAsync(call.Status, null).ConfigureAwait(false);
    }
}
