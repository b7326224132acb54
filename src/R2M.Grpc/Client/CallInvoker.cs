using Google.Protobuf;
using R2M.Grpc.Client.Internal;

namespace R2M.Grpc.Client;

/// <summary>
/// The one generic call layer: starts calls of the four shapes for any <see cref="Method{TRequest, TResponse}"/>
/// on its channel, applying channel defaults (deadline, compression, headers) and interceptors.
/// Typed helpers (<see cref="Channel.UnaryAsync{TRequest, TResponse}(Method{TRequest, TResponse}, TRequest, CallOptions?)"/>)
/// are thin wrappers over it.
/// </summary>
public sealed class CallInvoker
{
    private readonly Channel _channel;

    internal CallInvoker(Channel channel) => _channel = channel;

    public AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        CheckShape(method, MethodType.Unary);
        ArgumentNullException.ThrowIfNull(request);
        var holder = new AttemptHolder();
        UnaryContinuation<TRequest, TResponse> next = (req, ctx) =>
        {
            var call = new GrpcCall<TRequest, TResponse>(_channel, method, ctx);
            Volatile.Write(ref holder.Current, call);
            call.Start(req);
            return call.ReadSingleResponseAsync();
        };

        // The first interceptor is outermost: wrap from the last one inwards.
        var interceptors = _channel.Options.Interceptors;
        for (var i = interceptors.Count - 1; i >= 0; i--)
        {
            var interceptor = interceptors[i];
            var inner = next;
            next = (req, ctx) => interceptor.InterceptUnaryAsync(req, ctx, inner);
        }

        var response = next(request, CreateContext(method, options));
        return new AsyncUnaryCall<TResponse>(response, () => Volatile.Read(ref holder.Current));
    }

    public AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        CheckShape(method, MethodType.ServerStreaming);
        ArgumentNullException.ThrowIfNull(request);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, CreateContext(method, options));
        call.Start(request);
        return new AsyncServerStreamingCall<TResponse>(call, call);
    }

    public AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        CheckShape(method, MethodType.ClientStreaming);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, CreateContext(method, options));
        call.Start(null);
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, call.ReadSingleResponseAsync(), call);
    }

    public AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        Method<TRequest, TResponse> method, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        CheckShape(method, MethodType.DuplexStreaming);
        var call = new GrpcCall<TRequest, TResponse>(_channel, method, CreateContext(method, options));
        call.Start(null);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, call, call);
    }

    private ClientCallContext CreateContext(IMethod method, CallOptions? options)
    {
        var channelOptions = _channel.Options;
        var headers = new Metadata();
        if (options?.Headers is { } h)
        {
            foreach (var entry in h)
            {
                headers.Add(entry);
            }
        }

        DateTimeOffset? deadline = options?.Deadline;
        if (deadline is null && (options?.Timeout ?? channelOptions.DefaultTimeout) is { } timeout)
        {
            deadline = timeout == Timeout.InfiniteTimeSpan ? null : channelOptions.TimeProvider.GetUtcNow() + timeout;
        }

        return new ClientCallContext(method, headers, deadline, options?.CancellationToken ?? default,
            options?.Compression ?? channelOptions.Compression, attempt: 1);
    }

    private static void CheckShape(IMethod method, MethodType expected)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Type != expected)
        {
            throw new ArgumentException($"Method {method.FullName} is {method.Type}, not {expected}.", nameof(method));
        }
    }

    private sealed class AttemptHolder
    {
        public ICallState? Current;
    }
}
