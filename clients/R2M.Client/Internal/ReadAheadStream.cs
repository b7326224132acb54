using System.Net;
using System.Net.Sockets;

namespace R2M.Client.Internal;

/// <summary>
/// The channel's TCP connection, with reads served from a read-ahead buffer. HttpClient's HTTP/2
/// connection reads the socket into a buffer of about one frame (16 KiB frames, measured ~8 KiB per
/// recv while streaming 1 MiB messages), so a large response costs a system call per few KiB; one
/// receive into <see cref="BufferSize"/> bytes takes whatever the kernel holds (never waiting for
/// more), and the small reads that follow are copies. Writes go straight to the socket.
/// </summary>
internal sealed class ReadAheadStream : Stream
{
    /// <summary>Read-ahead size: several 16 KiB frames per receive, still within L2.</summary>
    public const int BufferSize = 256 * 1024;

    private readonly NetworkStream _inner;
    // Not pooled: a receive can still be landing in it while the connection is torn down.
    private readonly byte[] _buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
    private int _start;
    private int _end;

    public ReadAheadStream(NetworkStream inner) => _inner = inner;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// Opens the connection the way SocketsHttpHandler does by default (TCP, Nagle off, any
    /// address family of the host name) and wraps it.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_start == _end)
        {
            if (buffer.Length == 0 || buffer.Length >= BufferSize)
            {
                // A zero-byte read waits for data without holding a buffer; a large read needs no copy.
                return await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }

            _start = 0;
            _end = await _inner.ReadAsync(_buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
        }

        return CopyBuffered(buffer.Span);
    }

    public override int Read(Span<byte> buffer)
    {
        if (_start == _end)
        {
            if (buffer.Length == 0 || buffer.Length >= BufferSize)
            {
                return _inner.Read(buffer);
            }

            _start = 0;
            _end = _inner.Read(_buffer.AsSpan());
        }

        return CopyBuffered(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(ReadOnlySpan<byte> buffer) => _inner.Write(buffer);

    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private int CopyBuffered(Span<byte> destination)
    {
        var n = Math.Min(destination.Length, _end - _start);
        _buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        return n;
    }
}
