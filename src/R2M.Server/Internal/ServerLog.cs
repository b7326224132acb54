using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal;

/// <summary>Structured log messages of r2m-server's R2M work and calls (one place, source-generated).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(1, LogLevel.Information, "Serving gRPC on {Address}")]
    public static partial void Listening(ILogger logger, string address);

    [LoggerMessage(2, LogLevel.Information, "Loaded {Role} from {Path}: {Architecture}, hidden {Hidden}, layers {Layers}, vocab {Vocab}, {Parameters} parameters")]
    public static partial void ModelLoaded(ILogger logger, string role, string path, string architecture, int hidden, int layers, int vocab, long parameters);

    [LoggerMessage(3, LogLevel.Error, "Call {Method} failed (error id {ErrorId})")]
    public static partial void CallFailed(ILogger logger, string method, string errorId, Exception exception);

    [LoggerMessage(4, LogLevel.Information, "Call {Method} rejected: {Code} {Detail}")]
    public static partial void CallRejected(ILogger logger, string method, StatusCode code, string detail);

    [LoggerMessage(5, LogLevel.Information, "Reward model updated to rm_version {Version}: bt {BtLoss}, gre {GreLoss}, groups {Groups}")]
    public static partial void RewardUpdated(ILogger logger, ulong version, float btLoss, float greLoss, int groups);

    [LoggerMessage(6, LogLevel.Information, "Policy optimized to policy_version {Version}: loss {Loss}, kl {Kl}, items {Items}")]
    public static partial void PolicyOptimized(ILogger logger, ulong version, float loss, float kl, int items);

    [LoggerMessage(7, LogLevel.Warning, "Rollout store evicted {Count} rollouts (oldest first) to stay under {CapacityBytes} bytes")]
    public static partial void Evicted(ILogger logger, int count, long capacityBytes);

    [LoggerMessage(8, LogLevel.Information, "Checkpoint {Action} at {Path}: policy_version {PolicyVersion}, rm_version {RmVersion}, {Bytes} bytes")]
    public static partial void Checkpoint(ILogger logger, string action, string path, ulong policyVersion, ulong rmVersion, long bytes);

    [LoggerMessage(9, LogLevel.Debug, "Scored a batch of {Count} items with rm_version {Version}")]
    public static partial void ScoredBatch(ILogger logger, int count, ulong version);

    [LoggerMessage(10, LogLevel.Information, "Generated {Count} rollouts with policy_version {Version}")]
    public static partial void Generated(ILogger logger, int count, ulong version);

    [LoggerMessage(17, LogLevel.Information, "Teacher-forced {Count} rollouts with policy_version {Version}")]
    public static partial void TeacherForced(ILogger logger, int count, ulong version);

    [LoggerMessage(11, LogLevel.Information, "Loading the models after binding; health reports NOT_SERVING until they are loaded")]
    public static partial void LoadingModels(ILogger logger);

    [LoggerMessage(12, LogLevel.Information, "Models loaded in {Seconds:F1} s; health reports SERVING")]
    public static partial void ModelsReady(ILogger logger, double seconds);

    [LoggerMessage(13, LogLevel.Critical, "Loading the models failed; stopping")]
    public static partial void LoadFailed(ILogger logger, Exception exception);

    [LoggerMessage(14, LogLevel.Debug, "Call {Method} ended by the client: {Reason}")]
    public static partial void CallCancelled(ILogger logger, string method, string reason);

    [LoggerMessage(15, LogLevel.Error, "Score item '{ItemId}' of {Method} failed (error id {ErrorId})")]
    public static partial void ItemFailed(ILogger logger, string method, string itemId, string errorId, Exception exception);

    [LoggerMessage(16, LogLevel.Debug, "Score stream paused reading: its unanswered items hold {HeldBytes} bytes (R2M:MaxInFlightBytesPerStream {CapacityBytes})")]
    public static partial void ScoreStreamPaused(ILogger logger, long heldBytes, long capacityBytes);
}
