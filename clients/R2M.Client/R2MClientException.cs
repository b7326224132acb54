using R2M.Grpc;

namespace R2M.Client;

/// <summary>
/// A call that failed for good: a non-transient status, a transient one that outlasted every
/// retry, or a transient one after which a non-idempotent call (Optimize, Update) must not be
/// re-sent because the server applied it or may have. The message names the call, the status, how
/// many attempts were made and, for the last case, why (the versions before and after).
/// </summary>
public sealed class R2MClientException : Exception
{
    public R2MClientException(string message, StatusCode statusCode, int attempts, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
        Attempts = attempts;
    }

    /// <summary>The gRPC status of the last attempt (Unavailable for connection failures).</summary>
    public StatusCode StatusCode { get; }

    /// <summary>Attempts made (1 when the failure was not retryable).</summary>
    public int Attempts { get; }
}
