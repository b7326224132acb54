using Grpc.Core;

namespace R2M.Client.Internal;

/// <summary>
/// Counts the HTTP attempts of each call, below Grpc.Net.Client's retry loop (an interceptor sits
/// above it and sees one call), so the client can report attempts and retries of calls that the
/// channel retried itself. The call is identified by <see cref="Begin"/>, an async-local scope:
/// every attempt of a call runs in its execution context.
/// </summary>
internal sealed class AttemptObserver(TimeProvider time) : DelegatingHandler
{
    private static readonly AsyncLocal<CallAttempts?> Current = new();

    /// <summary>Starts counting the attempts of the calls made from here on in this async flow.</summary>
    public CallAttempts Begin(string call, Action<string, int, Exception, TimeSpan>? onRetry)
    {
        var attempts = new CallAttempts(call, onRetry, time);
        Current.Value = attempts;
        return attempts;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var attempts = Current.Value;
        attempts?.Starting();
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            attempts?.Answered(response);
            return response;
        }
        catch (Exception e)
        {
            attempts?.Failed(e);
            throw;
        }
    }
}

/// <summary>The attempts of one call, and the failure of the last one (reported when the next starts).</summary>
internal sealed class CallAttempts(string call, Action<string, int, Exception, TimeSpan>? onRetry, TimeProvider time)
{
    private readonly Lock _lock = new();
    private Exception? _lastFailure;
    private long _failedAt;

    public int Count { get; private set; }

    public void Starting()
    {
        Exception? failure;
        TimeSpan delay;
        int failed;
        lock (_lock)
        {
            failed = Count++;
            failure = _lastFailure;
            delay = failure is null ? TimeSpan.Zero : time.GetElapsedTime(_failedAt);
        }

        if (failed > 0)
        {
            onRetry?.Invoke(call, failed, failure ?? new RpcException(new Status(StatusCode.Unavailable, "the previous attempt failed")), delay);
        }
    }

    /// <summary>A Trailers-Only answer (grpc-status in the headers) is the attempt's failure, if it is retried.</summary>
    public void Answered(HttpResponseMessage response)
    {
        if (response.Headers.TryGetValues("grpc-status", out var values) && int.TryParse(values.FirstOrDefault(), out var code) && code != 0)
        {
            var message = response.Headers.TryGetValues("grpc-message", out var m) ? Uri.UnescapeDataString(m.FirstOrDefault() ?? "") : "";
            Failed(new RpcException(new Status((StatusCode)code, message)));
        }
    }

    public void Failed(Exception e)
    {
        lock (_lock)
        {
            _lastFailure = e;
            _failedAt = time.GetTimestamp();
        }
    }
}
