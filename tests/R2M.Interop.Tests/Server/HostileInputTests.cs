using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Grpc.Core;

namespace R2M.Interop.Tests.Server;

/// <summary>Malformed and hostile requests: each gets the right status or a closed stream, and the server keeps serving.</summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private static readonly string Echo = Path(nameof(InteropTest.InteropTestClient.Echo));
    private static readonly string ClientStream = Path(nameof(InteropTest.InteropTestClient.ClientStream));
    private InteropHost _server = null!;
    private RawGrpcClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await InteropHost.StartAsync(o => o.MaxReceiveMessageBytes = 64 * 1024);
        _client = new RawGrpcClient(_server.Address);
    }

    private static string Path(string method) => $"/{InteropTest.Descriptor.FullName}/{InteropTest.Descriptor.FindMethodByName(method).Name}";

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    /// <summary>
    /// One malformed request, sent to a unary method (Echo) and to a client-streaming one
    /// (ClientStream). Grpc.AspNetCore reads a unary request before any interceptor runs and
    /// answers what it cannot read with UNKNOWN ("Exception was thrown by handler."), where
    /// grpc's statuscodes.md would say INTERNAL; a streamed message is read inside the handler, so
    /// r2m-server's ErrorMap gives INTERNAL. The limit, truncation and encoding checks of
    /// Grpc.AspNetCore answer alike on both.
    /// </summary>
    public static TheoryData<string, StatusCode, StatusCode> Malformed() => new()
    {
        { "length-larger-than-body", StatusCode.Internal, StatusCode.Internal },
        { "three-byte-prefix", StatusCode.Internal, StatusCode.Internal },
        { "over-receive-limit", StatusCode.ResourceExhausted, StatusCode.ResourceExhausted },
        { "compressed-flag-without-encoding", StatusCode.Internal, StatusCode.Internal },
        { "flag-byte-7", StatusCode.Unknown, StatusCode.Internal },
        { "garbage-protobuf", StatusCode.Unknown, StatusCode.Internal },
        { "unsupported-encoding", StatusCode.Unimplemented, StatusCode.Unimplemented },
        { "corrupt-gzip", StatusCode.Unknown, StatusCode.Internal },
        { "gzip-bomb", StatusCode.ResourceExhausted, StatusCode.ResourceExhausted },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task MalformedRequest_UnaryAndStreaming_RightStatusAndServerKeepsServing(string name, StatusCode unary, StatusCode streaming)
    {
        var (body, headers) = MalformedBody(name);

        var toUnary = await _client.CallAsync(Echo, body, headers);
        var toStream = await _client.CallAsync(ClientStream, body, headers);

        Assert.True(toUnary.Status == unary, $"{name} to Echo: {toUnary.Status} '{toUnary.Message}'");
        Assert.True(toStream.Status == streaming, $"{name} to ClientStream: {toStream.Status} '{toStream.Message}'");
        Assert.DoesNotContain("   at ", (toUnary.Message ?? "") + toStream.Message, StringComparison.Ordinal);
        if (name == "unsupported-encoding")
        {
            Assert.Contains("gzip", toUnary.Header("grpc-accept-encoding"));
        }

        await AssertStillServingAsync();
    }

    private static (byte[] Body, (string, string)[] Headers) MalformedBody(string name)
    {
        var hundred = new EchoRequest { Payload = ByteString.CopyFrom(new byte[100]) };
        switch (name)
        {
            case "length-larger-than-body":
                return (RawGrpcClient.Frame(hundred)[..50], []);
            case "three-byte-prefix":
                return ([0, 0, 0], []);
            case "over-receive-limit":
                return (RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[70 * 1024]) }), []);
            case "compressed-flag-without-encoding":
                return (RawGrpcClient.Frame(new EchoRequest().ToByteArray(), encoding: null, flag: true), []);
            case "flag-byte-7":
                var frame = RawGrpcClient.Frame(new EchoRequest());
                frame[0] = 7;
                return (frame, []);
            case "garbage-protobuf":
                // Field 1, wire type 2, with a length varint far past the end of the message.
                return (RawGrpcClient.Frame([0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]), []);
            case "unsupported-encoding":
                return (RawGrpcClient.Frame(hundred.ToByteArray(), encoding: null, flag: true), [("grpc-encoding", "snappy")]);
            case "corrupt-gzip":
                return (RawGrpcClient.Frame([1, 2, 3, 4, 5, 6, 7, 8], encoding: null, flag: true), [("grpc-encoding", "gzip")]);
            default:
                // 1 MiB of zeros compresses far under the 64 KiB limit, and expands to 16 times it.
                var bomb = RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[1024 * 1024]) }.ToByteArray(), "gzip");
                Assert.True(bomb.Length < 64 * 1024);
                return (bomb, [("grpc-encoding", "gzip")]);
        }
    }

    [Theory]
    [InlineData(uint.MaxValue, StatusCode.Internal)]
    [InlineData((uint)int.MaxValue, StatusCode.ResourceExhausted)]
    public async Task ClaimedHugeLength_WithOpenStream_AnsweredWithoutWaitingForBody(uint claimed, StatusCode expected)
    {
        // Only the prefix and a few bytes are sent and the request stays open: an answer proves the
        // server judged the claimed length alone instead of buffering toward it. A 2 GiB - 1 claim is
        // over the receive limit (RESOURCE_EXHAUSTED); Grpc.AspNetCore refuses a length above
        // 2^31 - 1 (4 GiB here) as an unreadable prefix (an IOException; INTERNAL through ErrorMap).
        using var call = _client.Start(ClientStream);
        var header = new byte[5 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), claimed);
        await call.Content.WriteAsync(header);

        var response = await call.FinishAsync();

        Assert.Equal(expected, response.Status);
        await AssertStillServingAsync();
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
        var bad = new[] { MalformedBody("three-byte-prefix").Body, MalformedBody("garbage-protobuf").Body, MalformedBody("compressed-flag-without-encoding").Body };
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
