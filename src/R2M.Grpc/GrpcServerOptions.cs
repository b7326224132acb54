using System.IO.Compression;

namespace R2M.Grpc;

/// <summary>Server-wide settings, configured through <c>services.AddR2MGrpc(o => ...)</c>.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Default receive limit of gRPC implementations: 4 MiB (docs/specs.md section 1, "Limits").</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>Largest request message accepted; larger ones end the call with RESOURCE_EXHAUSTED. Null = no limit.</summary>
    public int? MaxReceiveMessageSize { get; set; } = DefaultMaxReceiveMessageSize;

    /// <summary>Largest response message sent; larger ones end the call with RESOURCE_EXHAUSTED. Null (default) = no limit.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>
    /// Compress responses with this encoding ("gzip" or "deflate") when the caller's
    /// <c>grpc-accept-encoding</c> lists it. Null (default): responses are compressed only with the
    /// encoding the caller itself used for its request.
    /// </summary>
    public string? ResponseCompressionAlgorithm { get; set; }

    public CompressionLevel ResponseCompressionLevel { get; set; } = CompressionLevel.Fastest;

    /// <summary>
    /// When true, the message of an unexpected handler exception is sent to the caller (development
    /// only). Default false: the caller gets UNKNOWN "Exception was thrown by handler." and the
    /// exception is logged.
    /// </summary>
    public bool EnableDetailedErrors { get; set; }

    /// <summary>Interceptors around every call, outermost first.</summary>
    public IList<ServerInterceptor> Interceptors { get; } = new List<ServerInterceptor>();
}
