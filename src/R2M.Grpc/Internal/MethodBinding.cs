using System.Buffers;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace R2M.Grpc.Internal;

/// <summary>
/// One bound method. Subclasses (one per call shape) read the request(s), run the interceptor
/// chain and the handler, and write the response(s); this base class owns validation and the
/// status at the end of every call.
/// </summary>
internal abstract class MethodBinding
{
    protected MethodBinding(MethodDescriptor method)
    {
        Method = method;
        Path = $"/{method.Service.FullName}/{method.Name}";
    }

    public MethodDescriptor Method { get; }

    /// <summary>The HTTP/2 <c>:path</c> of the method (PROTOCOL-HTTP2.md: "/" Service-Name "/" {method name}).</summary>
    public string Path { get; }

    protected abstract bool StreamingRequest { get; }

    /// <summary>Creates the endpoint's request delegate with the runtime's interceptors applied.</summary>
    public RequestDelegate CreateRequestDelegate(ServerRuntime runtime)
    {
        var invoke = CreateInvoker(runtime.Interceptors);
        return http => HandleCallAsync(http, runtime, invoke);
    }

    /// <summary>Composes the interceptors (outermost first) around the handler.</summary>
    protected abstract Func<HttpServerCallContext, Task> CreateInvoker(ServerInterceptor[] interceptors);

    private async Task HandleCallAsync(HttpContext http, ServerRuntime runtime, Func<HttpServerCallContext, Task> invoke)
    {
        if (!ServerCallValidation.Validate(http, runtime))
        {
            return;
        }

        var call = new HttpServerCallContext(http, runtime, Path);
        try
        {
            call.Initialize(http.Request.Headers[GrpcProtocol.EncodingHeader].ToString(), StreamingRequest);
            await invoke(call).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await call.FailAsync(ex).ConfigureAwait(false);
        }
        finally
        {
            await call.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads exactly one request message for unary and server-streaming methods. Any other count
    /// is a "request cardinality violation": UNIMPLEMENTED (grpc/grpc doc/statuscodes.md).
    /// </summary>
    protected static async Task<T> ReadSingleRequestAsync<T>(HttpServerCallContext call, MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        var reader = call.HttpContext.Request.BodyReader;
        Func<ReadOnlySequence<byte>, T> parse = parser.ParseFrom;
        var (ok, message) = await MessageFraming.ReadMessageAsync(reader, call.ReadOptions, parse, call.CancellationToken)
            .ConfigureAwait(false);
        if (!ok)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "Unary request must contain exactly one message; none was sent."));
        }

        var (extra, _) = await MessageFraming.ReadMessageAsync(reader, call.ReadOptions, parse, call.CancellationToken)
            .ConfigureAwait(false);
        if (extra)
        {
            throw new RpcException(new Status(StatusCode.Unimplemented, "Unary request must contain exactly one message; more were sent."));
        }

        return message;
    }

    protected static MessageParser<T> ParserOf<T>(MessageDescriptor descriptor)
        where T : class, IMessage<T>
        => descriptor.Parser as MessageParser<T>
            ?? throw new InvalidOperationException($"Message '{descriptor.FullName}' has no parser for {typeof(T).FullName}.");
}

/// <summary>
/// The part the four call shapes share: the handler, the request parser, and folding the
/// interceptors around the handler. <typeparamref name="THandler"/> is the shape's delegate type.
/// </summary>
internal abstract class MethodBinding<TRequest, THandler> : MethodBinding
    where TRequest : class, IMessage<TRequest>
    where THandler : Delegate
{
    private readonly THandler _handler;

    protected MethodBinding(MethodDescriptor method, THandler handler)
        : base(method)
    {
        _handler = handler;
        Parser = ParserOf<TRequest>(method.InputType);
    }

    protected MessageParser<TRequest> Parser { get; }

    protected sealed override Func<HttpServerCallContext, Task> CreateInvoker(ServerInterceptor[] interceptors)
    {
        var chain = _handler;
        for (var i = interceptors.Length - 1; i >= 0; i--)
        {
            chain = Intercept(interceptors[i], chain);
        }

        return call => InvokeAsync(call, chain);
    }

    /// <summary>Wraps <paramref name="next"/> in the interceptor's handler for this call shape.</summary>
    protected abstract THandler Intercept(ServerInterceptor interceptor, THandler next);

    /// <summary>Reads the request(s), runs <paramref name="chain"/>, writes the response(s) and the status.</summary>
    protected abstract Task InvokeAsync(HttpServerCallContext call, THandler chain);
}
