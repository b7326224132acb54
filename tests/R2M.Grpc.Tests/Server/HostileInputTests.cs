using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>Malformed and hostile requests: each gets the right status or a closed stream, and the server keeps serving.</summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private const string Echo = "/r2m.interop.v1.InteropTest/Echo";
    private const string ClientStream = "/r2m.interop.v1.InteropTest/ClientStream";
    private InteropTestServer _server = null!;
    private RawGrpcClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await InteropTestServer.StartAsync(o => o.MaxReceiveMessageSize = 64 * 1024);
        _client = new RawGrpcClient(_server.Address);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task TruncatedFrame_LengthLargerThanBody_Internal()
    {
        var frame = RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[100]) });

        var response = await _client.CallAsync(Echo, frame[..50]);

        Assert.Equal(StatusCode.Internal, response.Status);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task TruncatedPrefix_ThreeBytes_Internal()
    {
        var response = await _client.CallAsync(ClientStream, [0, 0, 0]);

        Assert.Equal(StatusCode.Internal, response.Status);
    }

    [Fact]
    public async Task ClaimedFourGiB_WithOpenStream_ResourceExhaustedWithoutWaitingForBody()
    {
        // Only the prefix and a few bytes are sent and the request stays open: an answer proves the
        // server judged the claimed length alone instead of buffering toward 4 GiB.
        using var call = _client.Start(ClientStream);
        var header = new byte[5 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), uint.MaxValue);
        await call.Content.WriteAsync(header);

        var response = await call.FinishAsync();

        Assert.Equal(StatusCode.ResourceExhausted, response.Status);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task MessageOverReceiveLimit_ResourceExhausted()
    {
        var frame = RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[70 * 1024]) });

        var response = await _client.CallAsync(Echo, frame);

        Assert.Equal(StatusCode.ResourceExhausted, response.Status);
        Assert.True(response.TrailersOnly);
    }

    [Fact]
    public async Task CompressedFlagWithoutEncoding_Internal()
    {
        var frame = RawGrpcClient.Frame(new EchoRequest().ToByteArray(), encoding: null, flag: true);

        var response = await _client.CallAsync(Echo, frame);

        Assert.Equal(StatusCode.Internal, response.Status);
        Assert.Contains("grpc-encoding", response.Message);
    }

    [Fact]
    public async Task InvalidFlagByte_Internal()
    {
        var frame = RawGrpcClient.Frame(new EchoRequest());
        frame[0] = 7;

        var response = await _client.CallAsync(Echo, frame);

        Assert.Equal(StatusCode.Internal, response.Status);
    }

    [Fact]
    public async Task GarbageProtobuf_Internal()
    {
        // Field 1, wire type 2, with a length varint far past the end of the message.
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3];

        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(garbage));

        Assert.Equal(StatusCode.Internal, response.Status);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task UnsupportedEncoding_UnimplementedListingAccepted()
    {
        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest()), [("grpc-encoding", "snappy")]);

        Assert.Equal(StatusCode.Unimplemented, response.Status);
        Assert.Contains("gzip", response.Header("grpc-accept-encoding"));
    }

    [Fact]
    public async Task CorruptGzip_Internal()
    {
        var frame = RawGrpcClient.Frame([1, 2, 3, 4, 5, 6, 7, 8], encoding: null, flag: true);

        var response = await _client.CallAsync(Echo, frame, [("grpc-encoding", "gzip")]);

        Assert.Equal(StatusCode.Internal, response.Status);
    }

    [Fact]
    public async Task GzipBomb_ExpandsPastLimit_ResourceExhausted()
    {
        // 1 MiB of zeros compresses far under the 64 KiB limit, and expands to 16 times it.
        var bomb = new EchoRequest { Payload = ByteString.CopyFrom(new byte[1024 * 1024]) };
        var frame = RawGrpcClient.Frame(bomb.ToByteArray(), "gzip");
        Assert.True(frame.Length < 64 * 1024);

        var response = await _client.CallAsync(Echo, frame, [("grpc-encoding", "gzip")]);

        Assert.Equal(StatusCode.ResourceExhausted, response.Status);
    }

    [Fact]
    public async Task Http11Request_RefusedAndServerKeepsServing()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _server.Address.Port);
        var request = "POST /r2m.interop.v1.InteropTest/Echo HTTP/1.1\r\nHost: localhost\r\n" +
            "Content-Type: application/grpc\r\nContent-Length: 5\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request).Concat(new byte[5]).ToArray());

        // The cleartext endpoint speaks HTTP/2 only: never a gRPC answer.
        var received = new List<byte>();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
        {
            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        // Kestrel answers "400 Bad Request" ("An HTTP/1.x request was sent to an HTTP/2 only
        // endpoint.") and closes the connection (the loop above ended on EOF, not on the timeout).
        var text = Encoding.ASCII.GetString([.. received]);
        Assert.StartsWith("HTTP/1.1 400", text, StringComparison.Ordinal);
        Assert.DoesNotContain("grpc-status", text, StringComparison.OrdinalIgnoreCase);
        await AssertStillServingAsync();
    }

    [Fact]
    public async Task AbruptResets_HalfSentFrames_ServerKeepsServing()
    {
        for (var i = 0; i < 5; i++)
        {
            var doomed = new RawGrpcClient(_server.Address);
            var call = doomed.Start(ClientStream);
            await call.Content.WriteAsync(RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[1000]) })[..300]);
            await call.GetResponseAsync().WaitAsync(TimeSpan.FromMilliseconds(200)).ContinueWith(_ => { });
            doomed.AbortConnections();
            doomed.Dispose();
        }

        using var raw = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(IPAddress.Loopback, _server.Address.Port);
        await raw.SendAsync(Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM")); // half a preface
        raw.LingerState = new LingerOption(true, 0);
        raw.Close();

        await AssertStillServingAsync();
    }

    [Fact]
    public async Task ManyBadCallsInterleavedWithGood_AllGoodOnesSucceed()
    {
        var bad = new[]
        {
            RawGrpcClient.Frame(new EchoRequest())[..3],
            RawGrpcClient.Frame([0x0A, 0xFF], null),
            RawGrpcClient.Frame(new byte[10], null, flag: true),
        };
        var tasks = Enumerable.Range(0, 30).Select(async i =>
        {
            if (i % 2 == 0)
            {
                var r = await _client.CallAsync(Echo, bad[i % bad.Length]);
                Assert.NotEqual(StatusCode.OK, r.Status);
            }
            else
            {
                var r = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFromUtf8($"{i}") }));
                Assert.Equal($"{i}", r.Single(EchoReply.Parser).Payload.ToStringUtf8());
            }
        });

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
    }

    private async Task AssertStillServingAsync()
    {
        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFromUtf8("alive") }));
        Assert.Equal("alive", response.Single(EchoReply.Parser).Payload.ToStringUtf8());
    }
}
