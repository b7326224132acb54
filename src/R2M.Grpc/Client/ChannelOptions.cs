using System.Net.Security;
using Microsoft.Extensions.Logging;

namespace R2M.Grpc.Client;

/// <summary>Settings shared by every call on a <see cref="Channel"/>.</summary>
public sealed class ChannelOptions
{
    /// <summary>Default receive limit of gRPC implementations (docs/specs.md section 1, "Limits").</summary>
    public const int DefaultMaxReceiveMessageSize = 4 * 1024 * 1024;

    /// <summary>Largest message the client sends; null means unlimited. Past it: RESOURCE_EXHAUSTED.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Largest message the client accepts (after decompression); null means unlimited.</summary>
    public int? MaxReceiveMessageSize { get; set; } = DefaultMaxReceiveMessageSize;

    /// <summary>Request message encoding for every call unless the call names one ("gzip", "deflate").</summary>
    public string? Compression { get; set; }

    /// <summary>Deadline applied to calls that set none.</summary>
    public TimeSpan? DefaultTimeout { get; set; }

    /// <summary>Metadata added to every call's request headers (e.g. static credentials).</summary>
    public Metadata? DefaultHeaders { get; set; }

    /// <summary>Interceptors, outermost first.</summary>
    public IList<ClientInterceptor> Interceptors { get; } = new List<ClientInterceptor>();

    /// <summary>Clock for deadlines; tests inject a fake one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Sent as <c>user-agent</c>.</summary>
    public string UserAgent { get; set; } = "grpc-r2m-dotnet/1.0";

    /// <summary>For https:// addresses: server certificate check (null = the platform's default validation).</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>
    /// An HTTP handler to use instead of the channel's own <see cref="System.Net.Http.SocketsHttpHandler"/>
    /// (the channel does not dispose it).
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }
}
