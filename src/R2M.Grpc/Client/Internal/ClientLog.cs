using Microsoft.Extensions.Logging;

namespace R2M.Grpc.Client.Internal;

/// <summary>All client log messages (one static class per area, source-generated).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(1, LogLevel.Debug, "Starting gRPC call {Method} (attempt {Attempt}).")]
    public static partial void CallStarting(ILogger logger, string method, int attempt);

    [LoggerMessage(2, LogLevel.Debug, "gRPC call {Method} finished with {StatusCode} after {ElapsedMs:F1} ms.")]
    public static partial void CallFinished(ILogger logger, string method, StatusCode statusCode, double elapsedMs);
}
