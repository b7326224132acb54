using System.Net.Security;
using System.Net.Sockets;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using R2M.Api.V1;

namespace R2M.Client.Internal;

/// <summary>
/// The one <see cref="GrpcChannel"/> of an <see cref="R2MClient"/>: SocketsHttpHandler (HTTP/2,
/// 8 MiB stream window) under the <see cref="AttemptObserver"/>, message
/// limits, and Grpc.Net.Client's retry policy (gRPC proposal A6) for the methods the protos declare
/// idempotent (<c>idempotency_level</c>); Optimize and Update declare none and are retried by
/// <see cref="CallRunner"/> with their request_id instead.
/// </summary>
internal static class ClientChannel
{
    private const int MiB = 1024 * 1024;

    /// <summary>The r2m.v1 services whose methods the client calls.</summary>
    public static IReadOnlyList<ServiceDescriptor> Services { get; } = [Policy.Descriptor, RewardModel.Descriptor, Admin.Descriptor];

    public static GrpcChannel Create(R2MClientOptions options, AttemptObserver observer)
    {
        var sockets = CreateHandler();
        sockets.SslOptions.ApplicationProtocols = [SslApplicationProtocol.Http2];
        if (options.ServerCertificateValidation is { } validate)
        {
            sockets.SslOptions.RemoteCertificateValidationCallback = validate;
        }

        observer.InnerHandler = sockets;
        return GrpcChannel.ForAddress(options.NormalizedAddress(), new GrpcChannelOptions
        {
            HttpHandler = observer,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.MaxMessageBytes,
            MaxSendMessageSize = options.MaxMessageBytes,
            ServiceConfig = RetryConfig(options),
            MaxRetryAttempts = Math.Max(options.MaxAttempts, 2),
            // Buffered request messages a retry may re-send (Score streams of inline items).
            MaxRetryBufferPerCallSize = 16 * MiB,
            MaxRetryBufferSize = 64 * MiB,
        });
    }

    /// <summary>
    /// The client's HTTP/2 handler. Its ConnectCallback opens the TCP connection as
    /// SocketsHttpHandler does by default (Nagle off); setting one also keeps Grpc.Net.Client from
    /// putting its own subchannel balancer in front of the handler pipeline, where a refused
    /// connection fails an attempt before <see cref="AttemptObserver"/> sees it (one server
    /// address: nothing to balance).
    /// </summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        KeepAlivePingDelay = TimeSpan.FromSeconds(60),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
        // Bulk responses (hidden states) are not stalled waiting for window updates.
        InitialHttp2StreamWindowSize = 8 * MiB,
        ConnectCallback = ConnectAsync,
    };

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="method"/> may be re-sent by the channel (protos: NO_SIDE_EFFECTS or IDEMPOTENT).</summary>
    public static bool IsIdempotent(MethodDescriptor method) =>
        method.GetOptions()?.IdempotencyLevel is MethodOptions.Types.IdempotencyLevel.NoSideEffects or MethodOptions.Types.IdempotencyLevel.Idempotent;

    /// <summary>
    /// One retry policy for every idempotent method: UNAVAILABLE (connection refused or reset,
    /// GOAWAY, REFUSED_STREAM, a server still loading its models) is retried with exponential
    /// backoff until <see cref="R2MClientOptions.MaxAttempts"/>, within the call's deadline.
    /// Null with MaxAttempts = 1.
    /// </summary>
    private static ServiceConfig? RetryConfig(R2MClientOptions options)
    {
        if (options.MaxAttempts < 2)
        {
            return null;
        }

        var config = new MethodConfig
        {
            RetryPolicy = new RetryPolicy
            {
                MaxAttempts = options.MaxAttempts,
                // Grpc.Net.Client wants positive backoffs; 0 in the options means "as fast as possible".
                InitialBackoff = Max(options.InitialBackoff, TimeSpan.FromMilliseconds(1)),
                MaxBackoff = Max(options.MaxBackoff, TimeSpan.FromMilliseconds(1)),
                BackoffMultiplier = 2,
                RetryableStatusCodes = { StatusCode.Unavailable },
            },
        };
        foreach (var method in Services.SelectMany(s => s.Methods).Where(IsIdempotent))
        {
            config.Names.Add(new MethodName { Service = method.Service.FullName, Method = method.Name });
        }

        return new ServiceConfig { MethodConfigs = { config } };
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
