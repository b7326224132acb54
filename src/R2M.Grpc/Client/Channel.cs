using System.Collections.Concurrent;
using System.Net.Security;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace R2M.Grpc.Client;

/// <summary>
/// A connection to a gRPC server over HTTP/2: <c>http://</c> uses cleartext HTTP/2 with prior
/// knowledge, <c>https://</c> TLS with ALPN "h2". Calls share pooled connections
/// (SocketsHttpHandler with several HTTP/2 connections allowed when one hits its stream limit).
/// Thread-safe; create one per server and reuse it.
/// </summary>
public sealed class Channel : IDisposable
{
    private readonly HttpMessageHandler _handler;
    private readonly bool _ownsHandler;
    private readonly ConcurrentDictionary<string, Uri> _uris = new(StringComparer.Ordinal);

    private Channel(Uri address, ChannelOptions options)
    {
        Address = address;
        Options = options;
        _ownsHandler = options.HttpHandler is null;
        _handler = options.HttpHandler ?? CreateHandler(options);
        Invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
        Logger = options.LoggerFactory?.CreateLogger("R2M.Grpc.Client") ?? NullLogger.Instance;
        CallInvoker = new CallInvoker(this);
    }

    public Uri Address { get; }

    public ChannelOptions Options { get; }

    /// <summary>The generic call layer of this channel.</summary>
    public CallInvoker CallInvoker { get; }

    internal HttpMessageInvoker Invoker { get; }

    internal ILogger Logger { get; }

    /// <summary>A channel to <paramref name="address"/> ("http://host:port" or "https://host:port").</summary>
    public static Channel ForAddress(string address, ChannelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (!Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"Channel address '{address}' is not an absolute URI such as http://127.0.0.1:50051.", nameof(address));
        }

        return ForAddress(uri, options);
    }

    public static Channel ForAddress(Uri address, ChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"Channel address '{address}' must use http:// or https://.", nameof(address));
        }

        options ??= new ChannelOptions();
        if (options.MaxReceiveMessageSize is < 0 || options.MaxSendMessageSize is < 0)
        {
            throw new ArgumentException("ChannelOptions.MaxReceiveMessageSize/MaxSendMessageSize must not be negative.", nameof(options));
        }

        return new Channel(address, options);
    }

    public Task<TResponse> UnaryAsync<TRequest, TResponse>(Method<TRequest, TResponse> method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => CallInvoker.AsyncUnaryCall(method, request, options).ResponseAsync;

    /// <summary>A unary call of a protoc-generated method descriptor.</summary>
    public Task<TResponse> UnaryAsync<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => UnaryAsync(Method<TRequest, TResponse>.FromDescriptor(method), request, options);

    public AsyncUnaryCall<TResponse> Unary<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => CallInvoker.AsyncUnaryCall(Method<TRequest, TResponse>.FromDescriptor(method), request, options);

    public AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => CallInvoker.AsyncServerStreamingCall(Method<TRequest, TResponse>.FromDescriptor(method), request, options);

    public AsyncClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(MethodDescriptor method, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => CallInvoker.AsyncClientStreamingCall(Method<TRequest, TResponse>.FromDescriptor(method), options);

    public AsyncDuplexStreamingCall<TRequest, TResponse> DuplexStreaming<TRequest, TResponse>(MethodDescriptor method, CallOptions? options = null)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => CallInvoker.AsyncDuplexStreamingCall(Method<TRequest, TResponse>.FromDescriptor(method), options);

    internal Uri GetRequestUri(string path) => _uris.GetOrAdd(path, static (p, a) => new Uri(a, p), Address);

    public void Dispose()
    {
        Invoker.Dispose();
        if (_ownsHandler)
        {
            _handler.Dispose();
        }
    }

    private static SocketsHttpHandler CreateHandler(ChannelOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            // A second connection opens when the first hits the server's MAX_CONCURRENT_STREAMS.
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(20),
            InitialHttp2StreamWindowSize = 8 * 1024 * 1024,

            // Large reads from the socket; HttpClient's own are about one HTTP/2 frame (ReadAheadStream).
            ConnectCallback = static (context, cancellationToken) => Internal.ReadAheadStream.ConnectAsync(context.DnsEndPoint, cancellationToken),
        };
        handler.SslOptions.ApplicationProtocols = [SslApplicationProtocol.Http2];
        if (options.ServerCertificateValidation is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }

        return handler;
    }
}
