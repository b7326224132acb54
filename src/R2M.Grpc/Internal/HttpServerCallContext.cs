using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace R2M.Grpc.Internal;

/// <summary>
/// The server side of one call on one HTTP/2 stream: deadline, cancellation, response headers,
/// messages and trailers. All response output goes through <see cref="_writeLock"/> (one writer
/// per output stream), so the deadline timer cannot interleave with a handler's write.
/// </summary>
internal sealed class HttpServerCallContext : ServerCallContext, IAsyncDisposable
{
    // RFC 7540 section 7: CANCEL (0x8) "the stream is no longer needed".
    private const int Http2Cancel = 0x8;

    // Timers cannot wait longer than ~49 days; a longer deadline behaves as "no timer".
    private static readonly TimeSpan MaxTimerDue = TimeSpan.FromDays(30);

    private readonly HttpContext _http;
    private readonly ServerRuntime _runtime;
    private readonly CancellationTokenSource _cts;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Metadata _trailers = [];
    private Metadata? _requestHeaders;
    private Dictionary<object, object>? _userState;
    private ITimer? _deadlineTimer;
    private Task _deadlineTask = Task.CompletedTask;
    private DateTime _deadline = DateTime.MaxValue;
    private Status _status = Status.DefaultSuccess;
    private bool _headersSent;
    private bool _completed;
    private volatile bool _deadlineExceeded;
    private bool _flushInterrupted;

    public HttpServerCallContext(HttpContext http, ServerRuntime runtime, string method)
    {
        _http = http;
        _runtime = runtime;
        Method = method;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
    }

    public override string Method { get; }

    public override string Host => _http.Request.Host.Value ?? "";

    public override string Peer => FormatPeer(_http.Connection);

    public override DateTime Deadline => _deadline;

    public override Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders();

    public override Metadata ResponseTrailers => _trailers;

    public override Status Status
    {
        get => _status;
        set => _status = value;
    }

    public override CancellationToken CancellationToken => _cts.Token;

    public override IDictionary<object, object> UserState => _userState ??= [];

    public HttpContext HttpContext => _http;

    public ServerRuntime Runtime => _runtime;

    public string? RequestEncoding { get; private set; }

    public string? ResponseEncoding { get; private set; }

    public bool DeadlineExceeded => _deadlineExceeded;

    public MessageReadOptions ReadOptions => new(_runtime.MaxReceiveMessageSize, RequestEncoding);

    public MessageWriteOptions WriteOptions =>
        new(_runtime.MaxSendMessageSize, ResponseEncoding, _runtime.Options.ResponseCompressionLevel);

    /// <summary>Reads grpc-encoding / grpc-timeout and starts the deadline timer.</summary>
    public void Initialize(string? requestEncoding, bool streamingRequest)
    {
        RequestEncoding = GrpcCompression.IsIdentity(requestEncoding) ? null : requestEncoding;
        ResponseEncoding = ChooseResponseEncoding();

        // gRPC messages are bounded per message, not per body; long-lived streams may idle.
        if (_http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBody)
        {
            maxBody.MaxRequestBodySize = null;
        }

        if (streamingRequest && _http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRate)
        {
            minRate.MinDataRate = null;
        }

        var timeoutHeader = _http.Request.Headers[GrpcProtocol.TimeoutHeader].ToString();
        if (timeoutHeader.Length == 0)
        {
            return;
        }

        if (!GrpcTimeout.TryParse(timeoutHeader, out var timeout))
        {
            GrpcServerLog.InvalidTimeout(_runtime.Logger, timeoutHeader);
            return;
        }

        var now = _runtime.TimeProvider.GetUtcNow().UtcDateTime;
        _deadline = DateTime.MaxValue - now > timeout ? now + timeout : DateTime.MaxValue;
        if (timeout <= MaxTimerDue)
        {
            _deadlineTimer = _runtime.TimeProvider.CreateTimer(
                static s => ((HttpServerCallContext)s!).OnDeadline(), this, timeout, Timeout.InfiniteTimeSpan);
        }
    }

    public override async Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_headersSent || _completed)
            {
                throw new InvalidOperationException("Response headers can only be sent once per call, before the first message.");
            }

            foreach (var entry in responseHeaders)
            {
                _http.Response.Headers.Append(entry.Key, entry.Value);
            }

            PrepareHeaders();
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes one response message (headers first if not yet sent) and flushes it.</summary>
    public async Task WriteMessageAsync(IMessage message, bool flush)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ThrowIfCannotWrite();
            PrepareHeaders();
            MessageFraming.WriteMessage(_http.Response.BodyWriter, message, WriteOptions);
            if (flush)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Ends the call with <paramref name="status"/> unless it already ended (deadline, reset).</summary>
    public async Task FinishAsync(Status status, Metadata? extraTrailers)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _status = status;
            if (_http.RequestAborted.IsCancellationRequested)
            {
                GrpcServerLog.CallCancelled(_runtime.Logger, Method);
                return; // the stream is gone; nothing can be sent
            }

            if (extraTrailers is not null)
            {
                foreach (var entry in extraTrailers)
                {
                    _trailers.Add(entry);
                }
            }

            WriteStatus(status, _trailers);
            GrpcServerLog.CallFinished(_runtime.Logger, Method, status.StatusCode);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Maps a handler failure to a status (without leaking internals) and ends the call.</summary>
    public Task FailAsync(Exception exception)
    {
        Status status;
        Metadata? trailers = null;
        if (exception is RpcException rpc)
        {
            status = rpc.Status;
            trailers = rpc.Trailers;
            GrpcServerLog.CallFailed(_runtime.Logger, Method, status.StatusCode, status.Detail);
        }
        else if (_deadlineExceeded)
        {
            status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        else if (exception is OperationCanceledException or IOException && _cts.IsCancellationRequested)
        {
            status = new Status(StatusCode.Cancelled, "Call canceled by the client.");
        }
        else
        {
            GrpcServerLog.HandlerException(_runtime.Logger, Method, exception);
            var detail = _runtime.Options.EnableDetailedErrors
                ? $"Exception was thrown by handler. {exception.GetType().Name}: {exception.Message}"
                : "Exception was thrown by handler.";
            status = new Status(StatusCode.Unknown, detail);
        }

        return FinishAsync(status, trailers);
    }

    public async ValueTask DisposeAsync()
    {
        if (_deadlineTimer is not null)
        {
            await _deadlineTimer.DisposeAsync().ConfigureAwait(false);
        }

        // A deadline firing right now must finish with the HttpContext before the request ends.
        await _deadlineTask.ConfigureAwait(false);
        _cts.Dispose();
    }

    private void OnDeadline()
    {
        _deadlineExceeded = true;
        _deadlineTask = DeadlineExceededAsync();
    }

    // PROTOCOL-HTTP2.md / docs/specs.md section 1: the server cancels the call locally, sends
    // DEADLINE_EXCEEDED and then RST_STREAM(CANCEL). The token is cancelled before taking the
    // write lock so a handler blocked in a flow-controlled write lets go of it.
    private async Task DeadlineExceededAsync()
    {
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return;
        }

        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _status = new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
            GrpcServerLog.DeadlineExceeded(_runtime.Logger, Method);
            if (!_flushInterrupted && !_http.RequestAborted.IsCancellationRequested)
            {
                WriteStatus(_status, null);
                await _http.Response.CompleteAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            GrpcServerLog.DeadlineSendFailed(_runtime.Logger, Method, ex);
        }
        finally
        {
            _writeLock.Release();
            ResetStream();
        }
    }

    private void ResetStream()
    {
        try
        {
            if (_http.Features.Get<IHttpResetFeature>() is { } reset)
            {
                reset.Reset(Http2Cancel);
            }
            else
            {
                _http.Abort();
            }
        }
        catch (Exception)
        {
            // The stream may already be closed; nothing more to do.
        }
    }

    private void ThrowIfCannotWrite()
    {
        if (_completed)
        {
            throw _deadlineExceeded
                ? new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"))
                : new InvalidOperationException("Can't write the message because the call is complete.");
        }

        _cts.Token.ThrowIfCancellationRequested();
    }

    private async Task FlushAsync()
    {
        try
        {
            await _http.Response.BodyWriter.FlushAsync(_cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Data may be stuck behind flow control; trailers would queue behind it, so a
            // deadline then only resets the stream.
            _flushInterrupted = true;
            throw;
        }
    }

    private void PrepareHeaders()
    {
        if (_headersSent)
        {
            return;
        }

        _headersSent = true;
        var response = _http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcCompression.AcceptEncodingValue;
        if (ResponseEncoding is not null)
        {
            response.Headers[GrpcProtocol.EncodingHeader] = ResponseEncoding;
        }
    }

    // Normal response: status in the trailers. No headers sent yet: Trailers-Only, one HEADERS
    // frame with END_STREAM carrying :status 200, content-type and the trailer fields.
    private void WriteStatus(Status status, Metadata? trailers)
    {
        var response = _http.Response;
        var trailersOnly = !_headersSent && !response.HasStarted;
        Action<string, string> add = trailersOnly
            ? (k, v) => response.Headers.Append(k, v)
            : (k, v) => response.AppendTrailer(k, v);
        if (trailersOnly)
        {
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = GrpcProtocol.ContentType;
            _headersSent = true;
        }

        add(GrpcProtocol.StatusTrailer, StatusMapping.Format(status.StatusCode));
        if (status.Detail.Length > 0)
        {
            add(GrpcProtocol.MessageTrailer, PercentEncoding.Encode(status.Detail));
        }

        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                add(entry.Key, entry.Value);
            }
        }
    }

    private string? ChooseResponseEncoding()
    {
        var accept = _http.Request.Headers[GrpcProtocol.AcceptEncodingHeader].ToString();
        var preferred = _runtime.Options.ResponseCompressionAlgorithm ?? RequestEncoding;
        return preferred is not null && GrpcCompression.AcceptListContains(accept, preferred) ? preferred : null;
    }

    private Metadata ReadRequestHeaders()
    {
        var metadata = new Metadata();
        foreach (var (name, values) in _http.Request.Headers)
        {
            foreach (var value in values)
            {
                if (value is not null && !GrpcProtocol.TryAddReceivedHeader(metadata, name, value))
                {
                    GrpcServerLog.InvalidBinaryHeader(_runtime.Logger, name);
                }
            }
        }

        return metadata;
    }

    private static string FormatPeer(ConnectionInfo connection)
    {
        var ip = connection.RemoteIpAddress;
        if (ip is null)
        {
            return "unknown";
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        return ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"ipv6:[{ip}]:{connection.RemotePort}"
            : $"ipv4:{ip}:{connection.RemotePort}";
    }
}
