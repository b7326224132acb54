using System.Buffers;
using Google.Protobuf;

namespace R2M.Grpc.Internal;

/// <summary>The request stream of a client-streaming or bidi call, read from the HTTP/2 request body.</summary>
internal sealed class HttpRequestStreamReader<T> : IAsyncStreamReader<T>
    where T : class, IMessage<T>
{
    private readonly HttpServerCallContext _call;
    private readonly Func<ReadOnlySequence<byte>, T> _parse;
    private T? _current;
    private bool _ended;

    public HttpRequestStreamReader(HttpServerCallContext call, MessageParser<T> parser)
    {
        _call = call;
        _parse = parser.ParseFrom;
    }

    public T Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true.");

    /// <summary>Number of messages read so far.</summary>
    public int Count { get; private set; }

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (_ended)
        {
            return false;
        }

        using var linked = cancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _call.CancellationToken)
            : null;
        var (ok, message) = await MessageFraming.ReadMessageAsync(
            _call.HttpContext.Request.BodyReader, _call.ReadOptions, _parse,
            linked?.Token ?? _call.CancellationToken).ConfigureAwait(false);
        if (!ok)
        {
            _ended = true;
            _current = null;
            return false;
        }

        _current = message;
        Count++;
        return true;
    }
}

/// <summary>The response stream of a server-streaming or bidi call.</summary>
internal sealed class HttpResponseStreamWriter<T> : IServerStreamWriter<T>
    where T : class, IMessage<T>
{
    private readonly HttpServerCallContext _call;

    public HttpResponseStreamWriter(HttpServerCallContext call)
    {
        _call = call;
    }

    public Task WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        return _call.WriteMessageAsync(message, flush: true);
    }
}
