namespace R2M.Client;

/// <summary>
/// How <see cref="R2MClient"/> talks to an r2m-server: address, API key, the deadline of every
/// call, the retry policy for transient failures and the concurrency cap.
/// </summary>
public sealed record R2MClientOptions
{
    /// <summary>Server address: "http://host:port", or "host:port" (cleartext HTTP/2 assumed).</summary>
    public string Address { get; init; } = "http://127.0.0.1:50051";

    /// <summary>Sent as <c>authorization: Bearer KEY</c> (RFC 6750) on every call when set.</summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// Deadline of each call (the server sees it as grpc-timeout): for idempotent calls it covers
    /// all the channel's attempts (gRPC retry semantics), for Optimize and Update each attempt.
    /// </summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Attempts per call in all (1 = no retry) for transient failures (UNAVAILABLE, connection reset).
    /// Optimize and Update are retried safely: their attempts share one request_id, which the server
    /// uses to answer a re-send of an applied call with its first reply. Above 1 they also read the
    /// server's version (Admin.Info) before the first attempt and before each retry, to stop when a
    /// restarted server lost its state.
    /// </summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Delay before the first retry; doubles per retry up to <see cref="MaxBackoff"/>, with full jitter.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Most calls of this client in flight at once (streams included).</summary>
    public int MaxConcurrency { get; init; } = 4;

    /// <summary>Largest message sent or received, bytes (hidden states can exceed gRPC's usual 4 MiB).</summary>
    public int MaxMessageBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>
    /// Score items sent on one stream before their replies arrive; keep it at or below the
    /// server's Info.limits.max_score_items_in_flight (default 256).
    /// </summary>
    public int MaxScoreItemsInFlight { get; init; } = 128;

    /// <summary>Clock for backoff delays (tests inject a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Seed of the jitter; null draws one.</summary>
    public int? JitterSeed { get; init; }

    /// <summary>
    /// Validates the server's TLS certificate for an https:// address (null: the system's trust
    /// store), e.g. to trust one self-signed certificate.
    /// </summary>
    public System.Net.Security.RemoteCertificateValidationCallback? ServerCertificateValidation { get; init; }

    /// <summary>
    /// Called at each retry with (call name, attempt that failed, its error, the wait before the
    /// retry). Retries of idempotent calls are made by the channel and reported as they start.
    /// </summary>
    public Action<string, int, Exception, TimeSpan>? OnRetry { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Address))
        {
            throw new ArgumentException("R2MClientOptions.Address is empty; give host:port or http://host:port", nameof(Address));
        }

        if (CallTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"R2MClientOptions.CallTimeout ({CallTimeout}) must be positive", nameof(CallTimeout));
        }

        if (MaxAttempts < 1)
        {
            throw new ArgumentException($"R2MClientOptions.MaxAttempts ({MaxAttempts}) must be >= 1", nameof(MaxAttempts));
        }

        if (InitialBackoff < TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            throw new ArgumentException($"R2MClientOptions backoff ({InitialBackoff}..{MaxBackoff}) must satisfy 0 <= InitialBackoff <= MaxBackoff", nameof(InitialBackoff));
        }

        if (MaxConcurrency < 1)
        {
            throw new ArgumentException($"R2MClientOptions.MaxConcurrency ({MaxConcurrency}) must be >= 1", nameof(MaxConcurrency));
        }

        if (MaxScoreItemsInFlight < 1)
        {
            throw new ArgumentException($"R2MClientOptions.MaxScoreItemsInFlight ({MaxScoreItemsInFlight}) must be >= 1", nameof(MaxScoreItemsInFlight));
        }

        if (MaxMessageBytes < 1024)
        {
            throw new ArgumentException($"R2MClientOptions.MaxMessageBytes ({MaxMessageBytes}) must be >= 1024", nameof(MaxMessageBytes));
        }
    }

    /// <summary>"host:port" becomes "http://host:port"; URIs are kept.</summary>
    internal string NormalizedAddress() =>
        Address.Contains("://", StringComparison.Ordinal) ? Address : "http://" + Address;
}
