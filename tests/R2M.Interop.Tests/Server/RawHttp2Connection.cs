using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace R2M.Interop.Tests.Server;

/// <summary>
/// An HTTP/2 connection written frame by frame (RFC 9113 section 4), for attacks no client library
/// sends: streams opened and reset as fast as the socket takes them (CVE-2023-44487, "rapid
/// reset"). Header blocks use HPACK literals without indexing or Huffman (RFC 7541 section 6.2.2).
/// </summary>
internal sealed class RawHttp2Connection : IDisposable
{
    private const byte Headers = 0x1, Data = 0x0, RstStream = 0x3, Settings = 0x4, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4;
    private static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    private readonly Socket _socket = new(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    private readonly MemoryStream _pending = new();
    private Task<(bool GoAway, uint ErrorCode, bool Closed)>? _reader;

    public static async Task<RawHttp2Connection> OpenAsync(int port)
    {
        var c = new RawHttp2Connection();
        await c._socket.ConnectAsync(IPAddress.Loopback, port);
        c._pending.Write(Preface);
        c.Frame(Settings, 0, 0, []);
        await c.FlushAsync();
        c._reader = Task.Run(c.ReadUntilGoAwayOrCloseAsync);
        return c;
    }

    /// <summary>Queues HEADERS (+ one DATA frame with END_STREAM) for a gRPC call, then RST_STREAM(CANCEL).</summary>
    public void OpenAndReset(int streamId, string path, byte[] grpcMessage)
    {
        var block = new MemoryStream();
        block.WriteByte(0x83); // :method POST (static index 3)
        block.WriteByte(0x86); // :scheme http (static index 6)
        Literal(block, 4, path); // :path
        Literal(block, 1, "localhost"); // :authority
        Literal(block, 31, "application/grpc"); // content-type
        LiteralNewName(block, "te", "trailers");
        Frame(Headers, EndHeaders, streamId, block.ToArray());
        Frame(Data, EndStream, streamId, grpcMessage);
        var code = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(code, 0x8); // CANCEL
        Frame(RstStream, 0, streamId, code);
    }

    public async Task FlushAsync()
    {
        if (_pending.Length == 0) return;
        await _socket.SendAsync(_pending.ToArray(), SocketFlags.None);
        _pending.SetLength(0);
    }

    /// <summary>What the server did with the connection: GOAWAY (and its code) and/or closed it.</summary>
    public Task<(bool GoAway, uint ErrorCode, bool Closed)> Outcome => _reader!;

    public void Dispose() => _socket.Dispose();

    private async Task<(bool, uint, bool)> ReadUntilGoAwayOrCloseAsync()
    {
        var header = new byte[9];
        try
        {
            while (true)
            {
                if (!await ReadExactlyAsync(header)) return (false, 0, true);
                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var payload = new byte[length];
                if (!await ReadExactlyAsync(payload)) return (false, 0, true);
                if (header[3] == GoAway && length >= 8)
                {
                    return (true, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)), false);
                }
            }
        }
        catch (SocketException)
        {
            return (false, 0, true);
        }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await _socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None);
            if (n == 0) return false;
            read += n;
        }

        return true;
    }

    private void Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        Span<byte> h = stackalloc byte[9];
        h[0] = (byte)(payload.Length >> 16);
        h[1] = (byte)(payload.Length >> 8);
        h[2] = (byte)payload.Length;
        h[3] = type;
        h[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(h[5..], streamId);
        _pending.Write(h);
        _pending.Write(payload);
    }

    // RFC 7541 section 6.2.2: literal header field without indexing, name from the static table.
    private static void Literal(Stream s, int nameIndex, string value)
    {
        Integer(s, 0x00, 4, nameIndex);
        String(s, value);
    }

    private static void LiteralNewName(Stream s, string name, string value)
    {
        s.WriteByte(0x00);
        String(s, name);
        String(s, value);
    }

    private static void String(Stream s, string value)
    {
        var bytes = Encoding.ASCII.GetBytes(value);
        Integer(s, 0x00, 7, bytes.Length); // H = 0: no Huffman
        s.Write(bytes);
    }

    // RFC 7541 section 5.1: an integer with an N-bit prefix.
    private static void Integer(Stream s, byte first, int prefixBits, int value)
    {
        var max = (1 << prefixBits) - 1;
        if (value < max)
        {
            s.WriteByte((byte)(first | value));
            return;
        }

        s.WriteByte((byte)(first | max));
        value -= max;
        while (value >= 128)
        {
            s.WriteByte((byte)((value % 128) + 128));
            value /= 128;
        }

        s.WriteByte((byte)value);
    }
}
