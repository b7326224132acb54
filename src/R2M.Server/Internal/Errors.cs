using Google.Protobuf;
using Grpc.Core;
using R2M.Models.Safetensors;

namespace R2M.Server.Internal;

/// <summary>Bad input: a field's value is wrong regardless of server state (INVALID_ARGUMENT).</summary>
internal sealed class InvalidInputException(string message) : Exception(message);

/// <summary>A rollout id that is unknown or was evicted (NOT_FOUND). The message names the id(s).</summary>
internal sealed class RolloutNotFoundException(string message) : Exception(message);

/// <summary>The request is valid but the server state forbids it (FAILED_PRECONDITION).</summary>
internal sealed class PreconditionException(string message) : Exception(message);

/// <summary>A write's deadline passed before it finished; nothing was applied (DEADLINE_EXCEEDED).</summary>
internal sealed class WriteDeadlineException(string message) : Exception(message);

/// <summary>A server limit was exceeded (RESOURCE_EXHAUSTED).</summary>
internal sealed class LimitExceededException(string message) : Exception(message);

/// <summary>A checkpoint that does not exist (NOT_FOUND) or lies outside the root (PERMISSION_DENIED).</summary>
internal sealed class CheckpointAccessException(StatusCode code, string message) : Exception(message)
{
    public StatusCode Code { get; } = code;
}

/// <summary>
/// The one place where domain errors become gRPC statuses (used by <see cref="ErrorReporter"/> for
/// whole calls and Score's in-band per-item errors). Status meanings: docs/specs.md section 1
/// (grpc's doc/statuscodes.md): a request message that does not parse is INTERNAL ("error parsing
/// request proto"), a client that went away CANCELLED.
/// </summary>
internal static class ErrorMap
{
    public static Status ToStatus(Exception e, bool callCancelled, bool detailed) => e switch
    {
        RpcException r => r.Status,
        InvalidInputException => new Status(StatusCode.InvalidArgument, e.Message),
        RolloutNotFoundException => new Status(StatusCode.NotFound, e.Message),
        PreconditionException => new Status(StatusCode.FailedPrecondition, e.Message),
        WriteDeadlineException => new Status(StatusCode.DeadlineExceeded, e.Message),
        LimitExceededException => new Status(StatusCode.ResourceExhausted, e.Message),
        CheckpointAccessException c => new Status(c.Code, e.Message),
        // A checkpoint whose tensors do not fit the hosted models (shape, missing tensor) or a corrupt file.
        SafetensorsException => new Status(StatusCode.DataLoss, e.Message),
        CheckpointException => new Status(StatusCode.FailedPrecondition, e.Message),
        // Argument checks inside the numerics (R2M.Alignment, R2M.Models) name the offending value.
        ArgumentException => new Status(StatusCode.InvalidArgument, e.Message),
        _ when IsClientGone(e, callCancelled) => new Status(StatusCode.Cancelled, "The call was cancelled."),
        // Google.Protobuf (3.30 and later) refuses a string that is not UTF-8; the binding
        // (Hosting.StrictUtf8MethodProvider) names the field first, this is the fallback.
        InvalidProtocolBufferException { InnerException: System.Text.DecoderFallbackException } =>
            new Status(StatusCode.InvalidArgument, "A request message has a string field that is not valid UTF-8."),
        // Raised by Grpc.AspNetCore while reading a streamed request: a message that does not parse or
        // a bad message prefix (flag, length over 2 GiB).
        InvalidProtocolBufferException => new Status(StatusCode.Internal, "A request message could not be parsed as protobuf."),
        InvalidDataException or IOException => new Status(StatusCode.Internal, $"The request stream could not be read: {e.Message}"),
        _ => new Status(StatusCode.Internal, detailed ? $"{e.GetType().Name}: {e.Message}" : "Internal server error; the server log has the details under this error id"),
    };

    /// <summary>
    /// True when <paramref name="e"/> says the client went away: a cancelled call, or a failed read
    /// or write caused by a cancellation. Kestrel fails the read of a reset or dropped stream with an
    /// <see cref="IOException"/> wrapping a ConnectionAbortedException (an OperationCanceledException)
    /// before the call's token is cancelled, so the cause is looked for in the chain as well.
    /// </summary>
    public static bool IsClientGone(Exception e, bool callCancelled)
    {
        if (e is OperationCanceledException || (callCancelled && e is IOException)) return true;
        for (var inner = e.InnerException; e is IOException && inner is not null; inner = inner.InnerException)
        {
            if (inner is OperationCanceledException) return true;
        }

        return false;
    }

    /// <summary>Whether a status is a server-side failure whose cause only the server log shows (not the client's input).</summary>
    public static bool IsServerFault(Exception e, Status status) =>
        status.StatusCode == StatusCode.Internal && e is not (RpcException or InvalidProtocolBufferException or InvalidDataException or IOException);
}
