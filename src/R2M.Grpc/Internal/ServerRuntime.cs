using Microsoft.Extensions.Logging;

namespace R2M.Grpc.Internal;

/// <summary>What every call handler needs from the host: options, logger, clock.</summary>
internal sealed class ServerRuntime
{
    public ServerRuntime(GrpcServerOptions options, ILogger logger, TimeProvider timeProvider)
    {
        Options = options;
        Logger = logger;
        TimeProvider = timeProvider;
        Interceptors = [.. options.Interceptors];
        if (options.ResponseCompressionAlgorithm is { } algorithm
            && (GrpcCompression.IsIdentity(algorithm) || !GrpcCompression.IsSupported(algorithm)))
        {
            throw new InvalidOperationException(
                $"GrpcServerOptions.ResponseCompressionAlgorithm '{algorithm}' is not supported; use 'gzip' or 'deflate'.");
        }
    }

    public GrpcServerOptions Options { get; }

    public ILogger Logger { get; }

    public TimeProvider TimeProvider { get; }

    /// <summary>Snapshot taken at map time, outermost first.</summary>
    public ServerInterceptor[] Interceptors { get; }

    public int MaxReceiveMessageSize => Options.MaxReceiveMessageSize ?? int.MaxValue;

    public int MaxSendMessageSize => Options.MaxSendMessageSize ?? int.MaxValue;
}
