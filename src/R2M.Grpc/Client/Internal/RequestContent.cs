using System.Net;

namespace R2M.Grpc.Client.Internal;

/// <summary>
/// The request body of a client-streaming or bidirectional call. HttpClient calls
/// <see cref="SerializeToStreamAsync(Stream, TransportContext?)"/> once the HTTP/2 stream is open;
/// the call writes messages to that stream from the caller's WriteAsync, and the body ends
/// (END_STREAM, PROTOCOL-HTTP2.md "Requests") when <see cref="Complete"/> releases the task.
/// </summary>
internal sealed class StreamingRequestContent : HttpContent
{
    private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _complete = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StreamingRequestContent() => Headers.TryAddWithoutValidation("content-type", "application/grpc");

    public Task<Stream> StreamTask => _stream.Task;

    public bool IsCompleted => _complete.Task.IsCompleted;

    public void Complete() => _complete.TrySetResult();

    /// <summary>Releases HttpClient's send loop when the call ends abnormally.</summary>
    public void Abort()
    {
        _stream.TrySetCanceled();
        _complete.TrySetResult();
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        _stream.TrySetResult(stream);
        return _complete.Task;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        SerializeToStreamAsync(stream, context);

    protected override bool TryComputeLength(out long length)
    {
        length = -1;
        return false;
    }
}

/// <summary>The body of a unary or server-streaming call: one framed message held in a pooled buffer.</summary>
internal sealed class SingleMessageContent : HttpContent
{
    private readonly PooledBufferWriter _buffer;

    public SingleMessageContent(PooledBufferWriter buffer)
    {
        _buffer = buffer;
        Headers.TryAddWithoutValidation("content-type", "application/grpc");
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        stream.WriteAsync(_buffer.WrittenMemory).AsTask();

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        stream.WriteAsync(_buffer.WrittenMemory, cancellationToken).AsTask();

    protected override bool TryComputeLength(out long length)
    {
        length = _buffer.WrittenMemory.Length;
        return true;
    }
}
