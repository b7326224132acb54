using System.Runtime.CompilerServices;

namespace R2M.Grpc.Client;

/// <summary>The request side of a client-streaming or bidirectional call.</summary>
public interface IClientStreamWriter<in T> : IAsyncStreamWriter<T>
{
    /// <summary>Ends the request stream (END_STREAM). Writing afterwards throws.</summary>
    Task CompleteAsync();
}

/// <summary>Final state of a call: used by every call object below.</summary>
internal interface ICallState
{
    Task<Metadata> ResponseHeadersAsync { get; }

    Status GetStatus();

    Metadata GetTrailers();

    void Cancel();
}

/// <summary>A unary call in flight. Await it (or <see cref="ResponseAsync"/>) for the reply.</summary>
public sealed class AsyncUnaryCall<TResponse> : IDisposable
{
    private readonly Func<ICallState?> _state;

    internal AsyncUnaryCall(Task<TResponse> response, Func<ICallState?> state)
    {
        ResponseAsync = response;
        _state = state;
    }

    /// <summary>The reply; faults with <see cref="RpcException"/> for a non-OK status.</summary>
    public Task<TResponse> ResponseAsync { get; }

    /// <summary>Response headers of the (last) attempt.</summary>
    public Task<Metadata> ResponseHeadersAsync => State.ResponseHeadersAsync;

    /// <summary>The final status; throws InvalidOperationException before the call finished.</summary>
    public Status GetStatus() => State.GetStatus();

    /// <summary>The trailers; throws InvalidOperationException before the call finished.</summary>
    public Metadata GetTrailers() => State.GetTrailers();

    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    /// <summary>Cancels the call if it is still running (RST_STREAM CANCEL).</summary>
    public void Dispose() => _state()?.Cancel();

    private ICallState State => _state() ?? throw new InvalidOperationException("The call has not started yet.");
}

/// <summary>A server-streaming call in flight.</summary>
public sealed class AsyncServerStreamingCall<TResponse> : IDisposable
{
    private readonly ICallState _state;

    internal AsyncServerStreamingCall(IAsyncStreamReader<TResponse> responseStream, ICallState state)
    {
        ResponseStream = responseStream;
        _state = state;
    }

    /// <summary>Replies; MoveNext throws <see cref="RpcException"/> when the call ends non-OK.</summary>
    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    public Status GetStatus() => _state.GetStatus();

    public Metadata GetTrailers() => _state.GetTrailers();

    public void Dispose() => _state.Cancel();
}

/// <summary>A client-streaming call in flight.</summary>
public sealed class AsyncClientStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly ICallState _state;

    internal AsyncClientStreamingCall(IClientStreamWriter<TRequest> requestStream, Task<TResponse> response, ICallState state)
    {
        RequestStream = requestStream;
        ResponseAsync = response;
        _state = state;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public Task<TResponse> ResponseAsync { get; }

    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    public Status GetStatus() => _state.GetStatus();

    public Metadata GetTrailers() => _state.GetTrailers();

    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();

    public void Dispose() => _state.Cancel();
}

/// <summary>A bidirectional call in flight.</summary>
public sealed class AsyncDuplexStreamingCall<TRequest, TResponse> : IDisposable
{
    private readonly ICallState _state;

    internal AsyncDuplexStreamingCall(IClientStreamWriter<TRequest> requestStream, IAsyncStreamReader<TResponse> responseStream, ICallState state)
    {
        RequestStream = requestStream;
        ResponseStream = responseStream;
        _state = state;
    }

    public IClientStreamWriter<TRequest> RequestStream { get; }

    public IAsyncStreamReader<TResponse> ResponseStream { get; }

    public Task<Metadata> ResponseHeadersAsync => _state.ResponseHeadersAsync;

    public Status GetStatus() => _state.GetStatus();

    public Metadata GetTrailers() => _state.GetTrailers();

    public void Dispose() => _state.Cancel();
}
