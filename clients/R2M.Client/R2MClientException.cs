using Grpc.Core;

namespace R2M.Client;

/// <summary>
/// A call that failed for good: a non-transient status, a transient one that outlasted every
/// retry, or a transient one after which a non-idempotent call (Optimize, Update) is not re-sent
/// because the server could not be checked or lost its state (its version went back). The message
/// names the call, the status, how many attempts were made and, for the last case, why.
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
