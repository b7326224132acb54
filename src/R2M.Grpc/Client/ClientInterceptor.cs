using Google.Protobuf;

namespace R2M.Grpc.Client;

/// <summary>
/// What an interceptor sees of a call before it starts: it may add headers (credentials), move the
/// deadline or change the encoding. One instance per attempt.
/// </summary>
public sealed class ClientCallContext
{
    internal ClientCallContext(IMethod method, Metadata headers, DateTimeOffset? deadline,
        CancellationToken cancellationToken, string? compression, int attempt)
    {
        Method = method;
        RequestHeaders = headers;
        Deadline = deadline;
        CancellationToken = cancellationToken;
        Compression = compression;
        Attempt = attempt;
        _initialHeaders = [.. headers];
    }

    // The headers as the caller gave them, before any interceptor added to them: a retry starts
    // from these so an interceptor's OnCallStartingAsync does not add its header twice.
    private readonly Metadata.Entry[] _initialHeaders;

    public IMethod Method { get; }

    /// <summary>Custom metadata to send; interceptors may add entries.</summary>
    public Metadata RequestHeaders { get; }

    public DateTimeOffset? Deadline { get; set; }

    public CancellationToken CancellationToken { get; }

    public string? Compression { get; set; }

    /// <summary>1 for the first attempt; a retry interceptor's further attempts count up.</summary>
    public int Attempt { get; }

    /// <summary>A copy for another attempt, with its own copy of the headers.</summary>
    public ClientCallContext ForAttempt(int attempt)
    {
        var headers = new Metadata();
        foreach (var e in _initialHeaders)
        {
            headers.Add(e);
        }

        return new ClientCallContext(Method, headers, Deadline, CancellationToken, Compression, attempt);
    }
}

/// <summary>Runs the rest of the chain (inner interceptors, then the call itself) for a unary call.</summary>
public delegate Task<TResponse> UnaryContinuation<TRequest, TResponse>(TRequest request, ClientCallContext context)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>;

/// <summary>
/// Client interceptor. Interceptors run in the order of <see cref="ChannelOptions.Interceptors"/>:
/// the first one is outermost, so its <see cref="OnCallStartingAsync"/> runs first and its
/// <see cref="InterceptUnaryAsync"/> wraps all the others.
/// </summary>
public abstract class ClientInterceptor
{
    /// <summary>Runs before every call of any shape is sent (e.g. add an auth header).</summary>
    public virtual ValueTask OnCallStartingAsync(ClientCallContext context) => ValueTask.CompletedTask;

    /// <summary>Runs once per attempt when its final status is known (e.g. logging, metrics).</summary>
    public virtual void OnCallCompleted(ClientCallContext context, Status status, TimeSpan elapsed)
    {
    }

    /// <summary>Wraps a whole unary call; may call <paramref name="next"/> more than once (retries).</summary>
    public virtual Task<TResponse> InterceptUnaryAsync<TRequest, TResponse>(
        TRequest request, ClientCallContext context, UnaryContinuation<TRequest, TResponse> next)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => next(request, context);
}
