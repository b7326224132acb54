using System.Net;
using System.Net.Sockets;
using R2M.Client.Internal;

namespace R2M.Client.Tests;

public sealed class ReadAheadStreamTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private Stream _client = Stream.Null;
    private Socket? _server;

    public async Task InitializeAsync()
    {
        _listener.Start();
        var accept = _listener.AcceptSocketAsync();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _client = await ReadAheadStream.ConnectAsync(new DnsEndPoint("127.0.0.1", port), CancellationToken.None).AsTask().WaitAsync(Wait);
        _server = await accept.WaitAsync(Wait);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        _server?.Dispose();
        _listener.Stop();
    }

    [Fact]
    public async Task ReadAsync_SizesZeroToSeventyAndLarge_SameBytesInOrder()
    {
        var sent = new byte[3 * ReadAheadStream.BufferSize + 12345];
        new Random(7).NextBytes(sent);
        var send = SendThenCloseAsync(sent);

        var received = new List<byte>(sent.Length);
        var sizes = Enumerable.Range(1, 70).Append(ReadAheadStream.BufferSize).Append(ReadAheadStream.BufferSize + 1).ToArray();
        for (var i = 0; ; i++)
        {
            var chunk = new byte[sizes[i % sizes.Length]];
            var n = await _client.ReadAsync(chunk).AsTask().WaitAsync(Wait);
            if (n == 0)
            {
                break;
            }

            received.AddRange(chunk.AsSpan(0, n).ToArray());
        }

        await send;
        Assert.Equal(sent, received.ToArray());
    }

    [Fact]
    public async Task Read_Synchronous_SameBytesAndZeroAtEnd()
    {
        var sent = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray();
        var send = SendThenCloseAsync(sent);

        var received = new MemoryStream();
        var chunk = new byte[4093];
        int n;
        while ((n = await Task.Run(() => _client.Read(chunk, 0, chunk.Length)).WaitAsync(Wait)) > 0)
        {
            received.Write(chunk, 0, n);
        }

        await send;
        Assert.Equal(sent, received.ToArray());
    }

    [Fact]
    public async Task ReadAsync_ZeroBytesBeforeData_CompletesOnceDataArrivesWithoutConsumingIt()
    {
        var wait = _client.ReadAsync(Memory<byte>.Empty).AsTask();
        Assert.False(wait.IsCompleted); // nothing sent yet

        await _server!.SendAsync(new byte[] { 42, 43 });

        Assert.Equal(0, await wait.WaitAsync(Wait));
        var one = new byte[1];
        Assert.Equal(1, await _client.ReadAsync(one).AsTask().WaitAsync(Wait));
        Assert.Equal(42, one[0]);
        Assert.Equal(0, await _client.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(Wait)); // 43 is buffered
        Assert.Equal(1, await _client.ReadAsync(one).AsTask().WaitAsync(Wait));
        Assert.Equal(43, one[0]);
    }

    [Fact]
    public async Task WriteAsync_BytesReachThePeer()
    {
        var sent = Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray();

        await _client.WriteAsync(sent).AsTask().WaitAsync(Wait);
        await _client.FlushAsync().WaitAsync(Wait);

        var received = new byte[sent.Length];
        var total = 0;
        while (total < received.Length)
        {
            var n = await _server!.ReceiveAsync(received.AsMemory(total)).AsTask().WaitAsync(Wait);
            Assert.NotEqual(0, n);
            total += n;
        }

        Assert.Equal(sent, received);
    }

    private async Task SendThenCloseAsync(byte[] bytes)
    {
        // Odd-sized sends, so receives and reads do not line up with the sender's writes.
        for (var offset = 0; offset < bytes.Length; offset += 7777)
        {
            await _server!.SendAsync(bytes.AsMemory(offset, Math.Min(7777, bytes.Length - offset)));
        }

        _server!.Shutdown(SocketShutdown.Send);
    }
}
