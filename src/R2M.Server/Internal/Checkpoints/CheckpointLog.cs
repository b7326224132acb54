using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>Structured log messages of the checkpoint folders (source-generated; event ids 201-).</summary>
internal static partial class CheckpointLog
{
    [LoggerMessage(201, LogLevel.Warning, "Checkpoint {Folder}: {Problem}; loading its newest version folder {Version}")]
    public static partial void FellBack(ILogger logger, string folder, string problem, string version);

    [LoggerMessage(202, LogLevel.Information, "Removed {Entry} ({Reason})")]
    public static partial void Removed(ILogger logger, string entry, string reason);

    [LoggerMessage(203, LogLevel.Warning, "Could not clean up {Entry}: {Error}; the next save to it or the next start-up tries again")]
    public static partial void CleanupFailed(ILogger logger, string entry, string error);

    [LoggerMessage(204, LogLevel.Information, "Checkpoint clean-up under {Root}: {Count} leftovers of unfinished saves removed")]
    public static partial void CleanedUp(ILogger logger, string root, int count);
}
