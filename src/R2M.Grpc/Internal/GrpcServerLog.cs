using Microsoft.Extensions.Logging;

namespace R2M.Grpc.Internal;

/// <summary>All log events of the gRPC server (one static class, source-generated).</summary>
internal static partial class GrpcServerLog
{
    [LoggerMessage(1, LogLevel.Debug, "gRPC call {Method} finished with {StatusCode}.")]
    public static partial void CallFinished(ILogger logger, string method, StatusCode statusCode);

    [LoggerMessage(2, LogLevel.Error, "gRPC handler for {Method} threw; the caller gets UNKNOWN.")]
    public static partial void HandlerException(ILogger logger, string method, Exception exception);

    [LoggerMessage(3, LogLevel.Debug, "gRPC call {Method} exceeded its deadline.")]
    public static partial void DeadlineExceeded(ILogger logger, string method);

    [LoggerMessage(4, LogLevel.Debug, "gRPC call {Method} was cancelled by the caller or the connection closed.")]
    public static partial void CallCancelled(ILogger logger, string method);

    [LoggerMessage(5, LogLevel.Information, "gRPC request to {Path} rejected: {Reason}")]
    public static partial void RequestRejected(ILogger logger, string path, string reason);

    [LoggerMessage(6, LogLevel.Debug, "Ignoring invalid grpc-timeout header '{Value}'.")]
    public static partial void InvalidTimeout(ILogger logger, string value);

    [LoggerMessage(7, LogLevel.Debug, "gRPC call {Method} failed with {StatusCode}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, StatusCode statusCode, string detail);

    [LoggerMessage(8, LogLevel.Warning, "Failed to send the deadline status of {Method}; resetting the stream.")]
    public static partial void DeadlineSendFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(9, LogLevel.Debug, "Dropping request metadata '{Key}': value is not base64.")]
    public static partial void InvalidBinaryHeader(ILogger logger, string key);
}
