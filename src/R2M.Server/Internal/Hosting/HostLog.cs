using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal.Hosting;

/// <summary>Structured log messages of the gRPC host (endpoints, TLS, access table), source-generated.</summary>
internal static partial class HostLog
{
    [LoggerMessage(101, LogLevel.Information, "gRPC endpoint {Address} (HTTP/2{Tls}); metrics {Metrics}; API key {Key}")]
    public static partial void Endpoints(ILogger logger, string address, string tls, string metrics, string key);

    [LoggerMessage(102, LogLevel.Debug, "Access of {Method}: {Requirement}")]
    public static partial void MethodAccess(ILogger logger, string method, KeyRequirement requirement);

    [LoggerMessage(103, LogLevel.Information, "/metrics request refused: {Reason}")]
    public static partial void MetricsRefused(ILogger logger, string reason);
}
