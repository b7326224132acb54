using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;

namespace R2M.Interop.Tests.Server;

/// <summary>
/// A deliberately raw gRPC caller for server tests: HttpClient over HTTP/2 (prior knowledge),
/// request bodies written byte for byte, so tests can send malformed frames and see exactly what
/// the server answers (headers, frames, trailers).
/// </summary>
internal sealed class RawGrpcClient : IDisposable
{
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly List<System.Net.Sockets.Socket> _sockets = [];

    public RawGrpcClient(Uri address, bool acceptAnyCertificate = false)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
            {
                NoDelay = true,
            };
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            lock (_sockets)
            {
                _sockets.Add(socket);
            }

            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        };
        if (acceptAnyCertificate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }

        _http = new HttpClient(handler) { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>Frames a message: flag, big-endian length, bytes (optionally gzip-compressed).</summary>
    public static byte[] Frame(IMessage message, string? gzip = null) => Frame(message.ToByteArray(), gzip);

    public static byte[] Frame(byte[] payload, string? encoding = null, bool? flag = null)
    {
        var body = payload;
        if (encoding is not null)
        {
            using var ms = new MemoryStream();
            using (Stream z = encoding == "gzip" ? new GZipStream(ms, CompressionLevel.Fastest, true) : new ZLibStream(ms, CompressionLevel.Fastest, true))
            {
                z.Write(payload);
            }

            body = ms.ToArray();
        }

        var frame = new byte[5 + body.Length];
        frame[0] = (flag ?? encoding is not null) ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)body.Length);
        body.CopyTo(frame, 5);
        return frame;
    }

    public HttpRequestMessage CreateRequest(string path, HttpContent content, IEnumerable<(string Name, string Value)>? headers = null,
        string contentType = "application/grpc")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.ParseAdd("trailers");
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        foreach (var (name, value) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    /// <summary>Sends <paramref name="body"/> as the whole request and reads the whole response.</summary>
    public async Task<RawGrpcResponse> CallAsync(string path, byte[] body, IEnumerable<(string Name, string Value)>? headers = null,
        string contentType = "application/grpc", CancellationToken cancellationToken = default)
    {
        using var request = CreateRequest(path, new ByteArrayContent(body), headers, contentType);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CallTimeout);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        return await RawGrpcResponse.ReadAsync(response, timeout.Token);
    }

    /// <summary>Starts a call whose request body is written piece by piece through the returned object.</summary>
    public RawStreamingCall Start(string path, IEnumerable<(string Name, string Value)>? headers = null)
    {
        var content = new PushContent();
        var request = CreateRequest(path, content, headers);
        var send = _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new RawStreamingCall(request, content, send);
    }

    /// <summary>Resets every TCP connection of this client at once (SO_LINGER 0: the peer sees RST).</summary>
    public void AbortConnections()
    {
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
                socket.Close();
            }
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A request body fed by the test: each chunk written is flushed to the wire at once.</summary>
internal sealed class PushContent : HttpContent
{
    private readonly Channel<byte[]> _chunks = Channel.CreateUnbounded<byte[]>();

    public ValueTask WriteAsync(byte[] chunk) => _chunks.Writer.WriteAsync(chunk);

    public void Complete() => _chunks.Writer.TryComplete();

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        await foreach (var chunk in _chunks.Reader.ReadAllAsync())
        {
            await stream.WriteAsync(chunk);
            await stream.FlushAsync();
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }
}

internal sealed class RawStreamingCall : IDisposable
{
    private readonly HttpRequestMessage _request;
    private readonly Task<HttpResponseMessage> _send;
    private HttpResponseMessage? _response;
    private Stream? _body;

    public RawStreamingCall(HttpRequestMessage request, PushContent content, Task<HttpResponseMessage> send)
    {
        _request = request;
        Content = content;
        _send = send;
    }

    public PushContent Content { get; }

    public ValueTask WriteAsync(IMessage message) => Content.WriteAsync(RawGrpcClient.Frame(message));

    public async Task<HttpResponseMessage> GetResponseAsync()
    {
        _response ??= await _send.WaitAsync(RawGrpcClient.CallTimeout);
        return _response;
    }

    /// <summary>Reads the next response message, or null at the end of the body.</summary>
    public async Task<byte[]?> ReadMessageAsync()
    {
        var response = await GetResponseAsync();
        _body ??= await response.Content.ReadAsStreamAsync();
        var header = new byte[5];
        using var cts = new CancellationTokenSource(RawGrpcClient.CallTimeout);
        var read = await _body.ReadAtLeastAsync(header, 5, throwOnEndOfStream: false, cts.Token);
        if (read == 0)
        {
            return null;
        }

        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1));
        var message = new byte[length];
        await _body.ReadExactlyAsync(message, cts.Token);
        return message;
    }

    /// <summary>Reads to the end and returns the response with its trailers.</summary>
    public async Task<RawGrpcResponse> FinishAsync()
    {
        var response = await GetResponseAsync();
        using var cts = new CancellationTokenSource(RawGrpcClient.CallTimeout);
        return await RawGrpcResponse.ReadAsync(response, cts.Token, _body);
    }

    public void Dispose()
    {
        Content.Complete();
        _response?.Dispose();
        _request.Dispose();
    }
}

/// <summary>Everything a test needs to judge a response.</summary>
internal sealed class RawGrpcResponse
{
    public required HttpStatusCode HttpStatus { get; init; }

    public required HttpResponseHeaders Headers { get; init; }

    public required HttpResponseHeaders Trailers { get; init; }

    public required List<(bool Compressed, byte[] Payload)> Messages { get; init; }

    public string? ContentType { get; init; }

    public bool TrailersOnly => Headers.Contains("grpc-status");

    public StatusCode? Status => Header(TrailersOnly ? Headers : Trailers, "grpc-status") is { } s ? (StatusCode)int.Parse(s) : null;

    public string? Message => Header(TrailersOnly ? Headers : Trailers, "grpc-message");

    public string? Header(string name) => Header(Headers, name);

    public string? Trailer(string name) => Header(Trailers, name);

    public static async Task<RawGrpcResponse> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken, Stream? started = null)
    {
        var stream = started ?? await response.Content.ReadAsStreamAsync(cancellationToken);
        using var ms = new MemoryStream();
        await stream.CopyToAsync(ms, cancellationToken);
        return new RawGrpcResponse
        {
            HttpStatus = response.StatusCode,
            Headers = response.Headers,
            Trailers = response.TrailingHeaders,
            Messages = SplitFrames(ms.ToArray()),
            ContentType = response.Content.Headers.ContentType?.ToString(),
        };
    }

    public T Single<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        Assert.Single(Messages);
        return parser.ParseFrom(Messages[0].Payload);
    }

    private static List<(bool, byte[])> SplitFrames(byte[] body)
    {
        var list = new List<(bool, byte[])>();
        var offset = 0;
        while (offset < body.Length)
        {
            Assert.True(body.Length - offset >= 5, "response body ends inside a message prefix");
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(offset + 1));
            Assert.True(body.Length - offset - 5 >= length, "response body ends inside a message");
            list.Add((body[offset] == 1, body.AsSpan(offset + 5, length).ToArray()));
            offset += 5 + length;
        }

        return list;
    }

    private static string? Header(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;
}
