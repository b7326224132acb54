using Grpc.Core;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>
/// Which status an I/O failure of a checkpoint save or load gets (ErrorMap turns the
/// <see cref="CheckpointAccessException"/> into the reply). Storage that cannot take the write
/// (full, over quota, read-only, not writable) is RESOURCE_EXHAUSTED: grpc's status-code guide
/// (docs/specs.md section 1) names "the entire file system is out of space" under it, and unlike
/// UNAVAILABLE it is not retried automatically (r2m-client's retry policy retries UNAVAILABLE
/// only): the operator has to free space or remount first. docs/server.md,
/// "Checkpoints on disk", explains the choice.
/// </summary>
internal static class CheckpointFailures
{
    // Linux errno values (asm-generic/errno-base.h, errno.h). On Unix .NET raises an IOException
    // whose HResult is the raw errno for these; EACCES and EPERM become UnauthorizedAccessException.
    private const int ENOSPC = 28;
    private const int EROFS = 30;
    private const int EDQUOT = 122;

    /// <summary>The status of a failed save, or null when <paramref name="e"/> is not an I/O failure.</summary>
    public static CheckpointAccessException? ForWrite(Exception e, string dir, bool replaced)
    {
        if (IoCause(e) is not { } cause) return null;
        var outcome = replaced
            ? "the new checkpoint is in place but may not survive a power loss"
            : "the checkpoint under this name is unchanged";
        return StorageProblem(cause) is { } problem
            ? new CheckpointAccessException(StatusCode.ResourceExhausted, $"checkpoint storage at '{dir}' {problem} ({cause.Message}); {outcome}")
            : new CheckpointAccessException(StatusCode.Internal, $"writing checkpoint '{dir}' failed ({cause.Message}); {outcome}");
    }

    /// <summary>The status of a failed read: a folder that vanished is NOT_FOUND, anything else DATA_LOSS.</summary>
    public static CheckpointAccessException? ForRead(Exception e, string dir) => IoCause(e) switch
    {
        null => null,
        FileNotFoundException or DirectoryNotFoundException => new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}' ({e.Message})"),
        var cause => new CheckpointAccessException(StatusCode.DataLoss, $"checkpoint '{dir}' could not be read ({cause.Message})"),
    };

    private static string? StorageProblem(Exception cause) => cause switch
    {
        UnauthorizedAccessException => "is not writable (permission denied)",
        IOException { HResult: ENOSPC or EDQUOT } => "is full (no space left on the device, or over quota)",
        IOException { HResult: EROFS } => "is read-only",
        _ => null,
    };

    /// <summary>The I/O exception itself or the one it wraps (SafetensorsWriter wraps its I/O errors).</summary>
    private static Exception? IoCause(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is IOException or UnauthorizedAccessException) return e;
        }

        return null;
    }
}
