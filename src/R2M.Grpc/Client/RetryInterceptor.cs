using Google.Protobuf;

namespace R2M.Grpc.Client;

/// <summary>
/// Retry policy hook for unary calls: retries statuses in <see cref="RetryableStatusCodes"/> with
/// exponential backoff, at most <see cref="MaxAttempts"/> attempts in all, never past the call's
/// deadline. Each attempt is a new HTTP/2 stream with a fresh copy of the headers.
/// </summary>
public sealed class RetryInterceptor : ClientInterceptor
{
    public int MaxAttempts { get; init; } = 3;

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    public double BackoffMultiplier { get; init; } = 2.0;

    /// <summary>Default: UNAVAILABLE only (what REFUSED_STREAM and GOAWAY map to, safe to retry).</summary>
    public IReadOnlySet<StatusCode> RetryableStatusCodes { get; init; } = new HashSet<StatusCode> { StatusCode.Unavailable };

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public override async Task<TResponse> InterceptUnaryAsync<TRequest, TResponse>(
        TRequest request, ClientCallContext context, UnaryContinuation<TRequest, TResponse> next)
    {
        var backoff = InitialBackoff;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await next(request, attempt == 1 ? context : context.ForAttempt(attempt)).ConfigureAwait(false);
            }
            catch (RpcException e) when (attempt < MaxAttempts && RetryableStatusCodes.Contains(e.StatusCode)
                && !context.CancellationToken.IsCancellationRequested && BeforeDeadline(context, backoff))
            {
                await Task.Delay(backoff, TimeProvider, context.CancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks((long)(backoff.Ticks * BackoffMultiplier));
            }
        }
    }

    private bool BeforeDeadline(ClientCallContext context, TimeSpan backoff) =>
        context.Deadline is not { } d || TimeProvider.GetUtcNow() + backoff < d;
}

/// <summary>Adds <c>authorization: Bearer token</c> to every call; the token source is asked per call.</summary>
public sealed class BearerTokenInterceptor(Func<CancellationToken, ValueTask<string>> tokenSource) : ClientInterceptor
{
    public override async ValueTask OnCallStartingAsync(ClientCallContext context)
    {
        var token = await tokenSource(context.CancellationToken).ConfigureAwait(false);
        context.RequestHeaders.Add("authorization", "Bearer " + token);
    }
}

/// <summary>Calls a callback with method, status and duration of every completed call (logging, metrics).</summary>
public sealed class CallObserverInterceptor(Action<IMethod, Status, TimeSpan> observer) : ClientInterceptor
{
    public override void OnCallCompleted(ClientCallContext context, Status status, TimeSpan elapsed) =>
        observer(context.Method, status, elapsed);
}
