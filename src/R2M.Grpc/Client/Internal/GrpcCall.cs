using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using R2M.Grpc.Internal;

namespace R2M.Grpc.Client.Internal;

/// <summary>
/// One attempt of one call on one HTTP/2 stream, for all four shapes: sends the request headers
/// and messages, reads the response headers, messages and trailers, and settles exactly one final
/// status (PROTOCOL-HTTP2.md). Cancellation, the deadline and local errors all end the call through
/// <see cref="Finish"/>, which resets the stream (RST_STREAM CANCEL, via disposing the response).
/// </summary>
internal sealed partial class GrpcCall<TRequest, TResponse> : ICallState, IAsyncStreamReader<TResponse>, IClientStreamWriter<TRequest>
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private readonly Channel _channel;
    private readonly Method<TRequest, TResponse> _method;
    private readonly ClientCallContext _context;
    private readonly CancellationTokenSource _cts = new();
    private readonly TaskCompletionSource<Metadata> _headers = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1); // one writer per output stream
    private readonly Func<ReadOnlySequence<byte>, TResponse> _parse;
    private readonly long _startTimestamp;
    private CancellationTokenRegistration _userCancellation;
    private ITimer? _deadlineTimer;
    private volatile bool _deadlineExpired;
    private volatile FinalState? _final;
    private int _finishing;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private MessageReadOptions _readOptions;
    private PooledBufferWriter? _sendBuffer;
    private StreamingRequestContent? _requestStream;
    private Task _startTask = Task.CompletedTask;
    private TResponse? _current;

    public GrpcCall(Channel channel, Method<TRequest, TResponse> method, ClientCallContext context)
    {
        _channel = channel;
        _method = method;
        _context = context;
        _parse = method.ResponseParser.ParseFrom;
        _startTimestamp = channel.Options.TimeProvider.GetTimestamp();
        _readOptions = new MessageReadOptions(channel.Options.MaxReceiveMessageSize ?? int.MaxValue, null);
    }

    private sealed record FinalState(Status Status, Metadata Trailers);

    public Task<Metadata> ResponseHeadersAsync => _headers.Task;

    public TResponse Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true yet.");

    /// <summary>Starts the call: <paramref name="request"/> for unary/server streaming, null for a request stream.</summary>
    public void Start(TRequest? request)
    {
        if (_context.CancellationToken.CanBeCanceled)
        {
            _userCancellation = _context.CancellationToken.UnsafeRegister(
                static s => ((GrpcCall<TRequest, TResponse>)s!).Finish(new Status(StatusCode.Cancelled, "Call canceled by the client."), null), this);
        }

        _startTask = StartAsync(request);
    }

    private async Task StartAsync(TRequest? request)
    {
        try
        {
            foreach (var interceptor in _channel.Options.Interceptors)
            {
                await interceptor.OnCallStartingAsync(_context).ConfigureAwait(false);
            }

            var timeout = StartDeadline();
            var httpRequest = BuildRequest(request, timeout);
            ClientLog.CallStarting(_channel.Logger, _method.FullName, _context.Attempt);
            var response = await _channel.Invoker.SendAsync(httpRequest, _cts.Token).ConfigureAwait(false);
            Volatile.Write(ref _response, response);
            if (_final is not null)
            {
                response.Dispose(); // finished (canceled) while the headers were on their way
                return;
            }

            await ReadResponseHeadersAsync(response).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Finish(MapException(e), null);
        }
    }

    /// <summary>Arms the local deadline timer; returns the timeout to send as grpc-timeout.</summary>
    private TimeSpan? StartDeadline()
    {
        if (_context.Deadline is not { } deadline)
        {
            return null;
        }

        var time = _channel.Options.TimeProvider;
        var timeout = deadline - time.GetUtcNow();
        if (timeout <= TimeSpan.Zero)
        {
            _deadlineExpired = true;
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline exceeded before the call started."));
        }

        _deadlineTimer = time.CreateTimer(static s => ((GrpcCall<TRequest, TResponse>)s!).OnDeadline(), this, timeout, Timeout.InfiniteTimeSpan);
        return timeout;
    }

    private void OnDeadline()
    {
        _deadlineExpired = true;
        Finish(new Status(StatusCode.DeadlineExceeded, "Deadline exceeded."), null);
    }

    private HttpRequestMessage BuildRequest(TRequest? request, TimeSpan? timeout)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, _channel.GetRequestUri(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var headers = message.Headers;

        // Request-Headers order (PROTOCOL-HTTP2.md): Call-Definition (timeout, content-type,
        // encodings, user agent) before Custom-Metadata. "te: trailers" detects incompatible proxies.
        headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        if (timeout is { } t)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(t));
        }

        var encoding = _context.Compression;
        if (!GrpcCompression.IsIdentity(encoding))
        {
            if (!GrpcCompression.IsSupported(encoding))
            {
                throw new RpcException(new Status(StatusCode.Internal, $"Unsupported request compression '{encoding}'."));
            }

            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, encoding);
        }

        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcCompression.AcceptEncodingValue);
        headers.TryAddWithoutValidation(GrpcProtocol.UserAgentHeader, _channel.Options.UserAgent);
        AddMetadata(headers, _channel.Options.DefaultHeaders);
        AddMetadata(headers, _context.RequestHeaders);

        if (request is not null)
        {
            _sendBuffer = new PooledBufferWriter();
            MessageFraming.WriteMessage(_sendBuffer, request, WriteOptions);
            message.Content = new SingleMessageContent(_sendBuffer);
        }
        else
        {
            _requestStream = new StreamingRequestContent();
            message.Content = _requestStream;
        }

        return message;
    }

    private MessageWriteOptions WriteOptions =>
        new(_channel.Options.MaxSendMessageSize ?? int.MaxValue, GrpcCompression.IsIdentity(_context.Compression) ? null : _context.Compression);

    private static void AddMetadata(HttpRequestHeaders headers, Metadata? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (var entry in metadata)
        {
            // -bin values go out as unpadded base64 (PROTOCOL-HTTP2.md "Binary-Header").
            headers.TryAddWithoutValidation(entry.Key, GrpcProtocol.ToHeaderValue(entry));
        }
    }

    private async Task ReadResponseHeadersAsync(HttpResponseMessage response)
    {
        // Trailers-Only (PROTOCOL-HTTP2.md "Responses"): grpc-status already in the only HEADERS frame.
        if (response.Headers.NonValidated.TryGetValues(GrpcProtocol.StatusTrailer, out _))
        {
            var metadata = ToMetadata(response.Headers);
            _headers.TrySetResult(metadata);
            Finish(StatusFrom(response.Headers), metadata);
            return;
        }

        if (response.StatusCode != HttpStatusCode.OK)
        {
            // No grpc-status: derive it from the HTTP status (http-grpc-status-mapping.md).
            var code = (int)response.StatusCode;
            Finish(new Status(StatusMapping.FromHttpStatus(code), $"Bad gRPC response: HTTP status {code}."), null);
            return;
        }

        response.Content.Headers.NonValidated.TryGetValues(GrpcProtocol.ContentTypeHeader, out var contentType);
        if (!GrpcProtocol.IsGrpcContentType(contentType.ToString()))
        {
            Finish(new Status(StatusCode.Unknown, $"Bad gRPC response: content-type '{contentType}'."), null);
            return;
        }

        string? encoding = null;
        if (response.Headers.NonValidated.TryGetValues(GrpcProtocol.EncodingHeader, out var enc))
        {
            encoding = enc.ToString();
            if (!GrpcCompression.IsSupported(encoding))
            {
                // "A client receiving an unsupported encoding fails with INTERNAL" (docs/specs.md section 1).
                Finish(new Status(StatusCode.Internal, $"Unsupported response compression '{encoding}'."), null);
                return;
            }
        }

        _readOptions = _readOptions with { Encoding = GrpcCompression.IsIdentity(encoding) ? null : encoding };
        _headers.TrySetResult(ToMetadata(response.Headers));
        var body = await response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
        // Larger reads than the shared 64 KiB default: a 1 MiB message then arrives in a few
        // segments instead of sixteen, which halves the reader's per-message overhead.
        _reader = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 256 * 1024, minimumReadSize: 64 * 1024, leaveOpen: true));
    }

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        await _startTask.ConfigureAwait(false);
        if (_final is { } early)
        {
            return early.Status.StatusCode == StatusCode.OK ? false : throw Error(early);
        }

        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static s => ((GrpcCall<TRequest, TResponse>)s!).Cancel(), this)
            : default;
        try
        {
            var (ok, message) = await MessageFraming.ReadMessageAsync(_reader!, _readOptions, _parse, _cts.Token).ConfigureAwait(false);
            if (ok)
            {
                _current = message;
                return true;
            }

            await _reader!.CompleteAsync().ConfigureAwait(false); // returns the pipe's pooled segments
            FinishFromTrailers();
        }
        catch (Exception e)
        {
            Finish(MapException(e), null);
        }

        var final = _final!;
        return final.Status.StatusCode == StatusCode.OK ? false : throw Error(final);
    }

    /// <summary>The single reply of a unary or client-streaming call.</summary>
    public async Task<TResponse> ReadSingleResponseAsync()
    {
        if (!await MoveNext(CancellationToken.None).ConfigureAwait(false))
        {
            throw FailAfterOk("The server ended the call with OK but sent no response message.");
        }

        var reply = Current;
        if (await MoveNext(CancellationToken.None).ConfigureAwait(false))
        {
            var status = new Status(StatusCode.Internal, "The server sent more than one response message for a unary call.");
            Finish(status, null);
            throw Error(_final!);
        }

        return reply;
    }

    private RpcException FailAfterOk(string detail)
    {
        // The stream itself ended cleanly; the protocol violation is reported as INTERNAL.
        var final = new FinalState(new Status(StatusCode.Internal, detail), _final?.Trailers ?? new Metadata());
        _final = final;
        return Error(final);
    }

    private void FinishFromTrailers()
    {
        var trailers = _response!.TrailingHeaders;
        if (!trailers.NonValidated.TryGetValues(GrpcProtocol.StatusTrailer, out _))
        {
            Finish(new Status(StatusCode.Internal, "The response ended without a grpc-status trailer."), ToMetadata(trailers));
            return;
        }

        Finish(StatusFrom(trailers), ToMetadata(trailers));
    }

    private static Status StatusFrom(HttpHeaders headers)
    {
        headers.NonValidated.TryGetValues(GrpcProtocol.StatusTrailer, out var status);
        headers.NonValidated.TryGetValues(GrpcProtocol.MessageTrailer, out var message);
        return new Status(StatusMapping.ParseStatus(status.ToString()), PercentEncoding.Decode(message.ToString()));
    }

    private static Metadata ToMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers.NonValidated)
        {
            foreach (var value in values)
            {
                GrpcProtocol.TryAddReceivedHeader(metadata, name, value);
            }
        }

        return metadata;
    }

    public Status GetStatus() => _final?.Status ?? throw new InvalidOperationException("The call has not finished yet.");

    public Metadata GetTrailers() => _final?.Trailers ?? throw new InvalidOperationException("The call has not finished yet.");

    public void Cancel() => Finish(new Status(StatusCode.Cancelled, "Call canceled by the client."), null);

    /// <summary>
    /// Settles the final status once (later calls are ignored). A non-OK end resets the HTTP/2
    /// stream: canceling the token aborts pending I/O and disposing the unfinished response sends
    /// RST_STREAM(CANCEL) (docs/specs.md section 1, "RST_STREAM, deadlines").
    /// </summary>
    private void Finish(Status status, Metadata? trailers)
    {
        if (Interlocked.Exchange(ref _finishing, 1) != 0)
        {
            return;
        }

        if (status.StatusCode == StatusCode.Cancelled && DeadlinePassed())
        {
            // "a client that then sees CANCELLED after its deadline reports DEADLINE_EXCEEDED".
            status = new Status(StatusCode.DeadlineExceeded, "Deadline exceeded.");
        }

        _final = new FinalState(status, trailers ?? new Metadata());
        if (status.StatusCode != StatusCode.OK)
        {
            _headers.TrySetException(Error(_final));
            _ = _headers.Task.Exception; // observed: callers need not await the headers
            _cts.Cancel();
        }
        else
        {
            _headers.TrySetResult(new Metadata());

            // Only after a clean end is the request body certainly no longer being sent, so only
            // then may the pooled request buffer go back to the pool (else the GC takes it).
            _sendBuffer?.Dispose();
        }

        _deadlineTimer?.Dispose();
        _userCancellation.Dispose();
        _requestStream?.Abort();
        Volatile.Read(ref _response)?.Dispose();
        var elapsed = _channel.Options.TimeProvider.GetElapsedTime(_startTimestamp);
        ClientLog.CallFinished(_channel.Logger, _method.FullName, status.StatusCode, elapsed.TotalMilliseconds);
        foreach (var interceptor in _channel.Options.Interceptors)
        {
            interceptor.OnCallCompleted(_context, status, elapsed);
        }
    }

    private bool DeadlinePassed() =>
        _deadlineExpired || (_context.Deadline is { } d && _channel.Options.TimeProvider.GetUtcNow() >= d);

    private static RpcException Error(FinalState final) => new(final.Status, final.Trailers);

    private Status MapException(Exception e)
    {
        if (_final is { } final)
        {
            return final.Status; // the I/O failed because the call had already ended
        }

        return e switch
        {
            RpcException r => r.Status,
            OperationCanceledException => _deadlineExpired
                ? new Status(StatusCode.DeadlineExceeded, "Deadline exceeded.")
                : new Status(StatusCode.Cancelled, "Call canceled."),
            HttpProtocolException p => FromReset(p),
            HttpRequestException { InnerException: HttpProtocolException p } => FromReset(p),
            HttpRequestException h => new Status(StatusCode.Unavailable, "Error connecting to the server: " + h.Message),
            IOException io => new Status(StatusCode.Unavailable, "Connection failed: " + io.Message),
            ObjectDisposedException => new Status(StatusCode.Cancelled, "Call canceled."),
            _ => new Status(StatusCode.Internal, $"Client error: {e.GetType().Name}: {e.Message}"),
        };
    }

    // RST_STREAM error code -> status (PROTOCOL-HTTP2.md "Errors").
    private static Status FromReset(HttpProtocolException p) =>
        new(StatusMapping.FromHttp2ErrorCode(p.ErrorCode), $"HTTP/2 stream reset by the server (error code 0x{p.ErrorCode:X}).");
}
