using System.Net.Sockets;
using Grpc.Core;

namespace R2M.Client.Internal;

/// <summary>
/// Runs every call of an <see cref="R2MClient"/>: the concurrency cap (a semaphore held for the
/// whole call, streams included), the deadline, and the errors that name call, status and
/// attempts. Idempotent calls are retried by the channel (Grpc.Net.Client's retry policy,
/// <see cref="RunRetriedByChannelAsync"/>; attempts counted by <see cref="AttemptObserver"/>);
/// Optimize and Update are retried here (<see cref="RunAsync"/>), one attempt at a time with
/// exponential backoff and jitter and a check before each re-send. A reward server that blips
/// (restart, dropped connection) must not kill a long training run, but a server that stays down
/// must produce a clear error instead of an endless wait.
/// </summary>
internal sealed class CallRunner : IDisposable
{
    private readonly R2MClientOptions _options;
    private readonly AttemptObserver? _observer;
    private readonly SemaphoreSlim _gate;
    private readonly Random _jitter;
    private readonly Lock _jitterLock = new();
    private int _inFlight;
    private int _peakInFlight;

    public CallRunner(R2MClientOptions options, AttemptObserver? observer = null)
    {
        _options = options;
        _observer = observer;
        _gate = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _jitter = options.JitterSeed is { } seed ? new Random(seed) : new Random();
    }

    /// <summary>Most attempts that were in flight at the same time (tests check the cap with it).</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, fails with a non-transient status, or
    /// the attempts are spent; the final failure is an <see cref="R2MClientException"/>.
    /// <paramref name="beforeRetry"/>, when given, runs after each transient failure that would be
    /// retried, before the retry is announced or delayed: it returns null to retry, or why the call
    /// must not be sent again (e.g. the server lost its state), and the call then fails with that
    /// reason. It runs outside the concurrency cap, so it may make calls of its own.
    /// </summary>
    public async Task<T> RunAsync<T>(
        string name, Func<CallOptions, Task<T>> attempt, CancellationToken cancellationToken,
        Func<CancellationToken, Task<string?>>? beforeRetry = null)
    {
        long started = _options.TimeProvider.GetTimestamp();
        for (int n = 1; ; n++)
        {
            Exception failure;
            StatusCode code;
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            int now = Interlocked.Increment(ref _inFlight);
            UpdatePeak(now);
            try
            {
                var callOptions = new CallOptions(deadline: _options.TimeProvider.GetUtcNow().UtcDateTime + _options.CallTimeout, cancellationToken: cancellationToken);
                return await attempt(callOptions).ConfigureAwait(false);
            }
            catch (Exception e) when (Classify(e) is { } c)
            {
                failure = e;
                code = c;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
                _gate.Release();
            }

            cancellationToken.ThrowIfCancellationRequested();
            TimeSpan elapsed = _options.TimeProvider.GetElapsedTime(started);
            if (!IsTransient(code) || n >= _options.MaxAttempts)
            {
                throw Final(name, code, n, elapsed, failure);
            }

            if (beforeRetry is not null && await beforeRetry(cancellationToken).ConfigureAwait(false) is { } reason)
            {
                throw NotResent(name, code, n, failure, reason);
            }

            TimeSpan delay = Backoff(n);
            _options.OnRetry?.Invoke(name, n, failure, delay);
            await Task.Delay(delay, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs a call that the channel retries itself (its method is in the channel's retry policy):
    /// one deadline for all its attempts, the cap held throughout, retries reported through
    /// <see cref="R2MClientOptions.OnRetry"/> as the channel makes them, and the final failure an
    /// <see cref="R2MClientException"/> with the number of attempts the channel made.
    /// </summary>
    public async Task<T> RunRetriedByChannelAsync<T>(string name, Func<CallOptions, Task<T>> call, CancellationToken cancellationToken)
    {
        long started = _options.TimeProvider.GetTimestamp();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        UpdatePeak(Interlocked.Increment(ref _inFlight));
        CallAttempts? attempts = _observer?.Begin(name, _options.OnRetry);
        try
        {
            return await call(new CallOptions(deadline: _options.TimeProvider.GetUtcNow().UtcDateTime + _options.CallTimeout, cancellationToken: cancellationToken))
                .ConfigureAwait(false);
        }
        catch (Exception e) when (Classify(e) is { } code && !cancellationToken.IsCancellationRequested)
        {
            throw Final(name, code, Math.Max(1, attempts?.Count ?? 1), _options.TimeProvider.GetElapsedTime(started), e);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
            _gate.Release();
        }
    }

    /// <summary>
    /// Delay after failed attempt <paramref name="attempt"/> (1-based): the exponential step
    /// InitialBackoff * 2^(attempt-1), capped at MaxBackoff, with "equal jitter" (half fixed,
    /// half uniform random) so many trainers hit by one outage do not retry in lockstep.
    /// </summary>
    internal TimeSpan Backoff(int attempt)
    {
        double cap = _options.MaxBackoff.TotalMilliseconds;
        double step = Math.Min(cap, _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)));
        double u;
        lock (_jitterLock)
        {
            u = _jitter.NextDouble();
        }

        return TimeSpan.FromMilliseconds(step / 2 + u * step / 2);
    }

    /// <summary>
    /// UNAVAILABLE is what connection refused/reset, GOAWAY and REFUSED_STREAM map to. Refused,
    /// GOAWAY-unprocessed and REFUSED_STREAM calls were not processed (RFC 9113 section 8.7); after a
    /// reset mid-call the server may have processed it, which is harmless only for idempotent calls
    /// (non-idempotent ones pass a beforeRetry check to <see cref="RunAsync"/>).
    /// </summary>
    internal static bool IsTransient(StatusCode code) => code == StatusCode.Unavailable;

    /// <summary>The status of a failure, or null for exceptions that are not call failures (bugs propagate as they are).</summary>
    private static StatusCode? Classify(Exception e) => e switch
    {
        R2MClientException r => r.StatusCode,
        RpcException r => r.StatusCode,
        // Grpc.Net.Client maps these to UNAVAILABLE already; they are listed in case one escapes.
        HttpRequestException or IOException or SocketException => StatusCode.Unavailable,
        _ => null,
    };

    private static string Detail(Exception failure) => failure is RpcException r ? r.Status.Detail : failure.Message;

    private R2MClientException Final(string name, StatusCode code, int attempts, TimeSpan elapsed, Exception failure)
    {
        string detail = Detail(failure);
        string tries = attempts == 1 ? "1 attempt" : $"{attempts} attempts over {elapsed.TotalSeconds:F1} s";
        string hint = code switch
        {
            StatusCode.Unavailable => $" (is r2m-server running and reachable at {_options.NormalizedAddress()}?)",
            StatusCode.Unauthenticated => " (give the server's key with --api-key-file or R2M_API_KEY)",
            StatusCode.DeadlineExceeded => $" (the per-call deadline is {_options.CallTimeout.TotalSeconds:F0} s; raise --timeout)",
            _ => "",
        };
        return new R2MClientException($"{name} failed after {tries}: {code}: {detail}{hint}", code, attempts, failure);
    }

    private static R2MClientException NotResent(string name, StatusCode code, int attempts, Exception failure, string reason) =>
        new($"{name} failed on attempt {attempts} ({code}: {Detail(failure)}) and was not sent again: {reason}", code, attempts, failure);

    private void UpdatePeak(int now)
    {
        int peak;
        while (now > (peak = Volatile.Read(ref _peakInFlight)) && Interlocked.CompareExchange(ref _peakInFlight, now, peak) != peak)
        {
        }
    }

    public void Dispose() => _gate.Dispose();
}
