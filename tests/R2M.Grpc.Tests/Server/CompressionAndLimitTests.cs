using System.IO.Compression;
using Google.Protobuf;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>gzip/deflate in both directions, message size limits, and large payloads.</summary>
public sealed class CompressionAndLimitTests
{
    private const string Echo = "/r2m.interop.v1.InteropTest/Echo";

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task CompressedRequest_AcceptsSameEncoding_ResponseCompressedToo(string encoding)
    {
        await using var server = await InteropTestServer.StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var request = new EchoRequest { Payload = ByteString.CopyFromUtf8(new string('a', 5000)) };

        var response = await client.CallAsync(Echo, RawGrpcClient.Frame(request.ToByteArray(), encoding),
            [("grpc-encoding", encoding), ("grpc-accept-encoding", $"identity,{encoding}")]);

        Assert.Equal(StatusCode.OK, response.Status);
        Assert.Equal(encoding, response.Header("grpc-encoding"));
        var (compressed, payload) = Assert.Single(response.Messages);
        Assert.True(compressed);
        Assert.True(payload.Length < 5000);
        var reply = EchoReply.Parser.ParseFrom(Decompress(encoding, payload));
        Assert.Equal(request.Payload, reply.Payload);
    }

    [Fact]
    public async Task ServerCompressionOption_ClientAcceptsGzip_ResponseCompressed()
    {
        await using var server = await InteropTestServer.StartAsync(o => o.ResponseCompressionAlgorithm = "gzip");
        using var client = new RawGrpcClient(server.Address);

        var accepted = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { ResponseSize = 4000 }),
            [("grpc-accept-encoding", "gzip")]);
        var notAccepted = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { ResponseSize = 4000 }));

        Assert.True(accepted.Messages[0].Compressed);
        Assert.Equal(InteropTestService.Payload(4000), EchoReply.Parser.ParseFrom(Decompress("gzip", accepted.Messages[0].Payload)).Payload);
        Assert.False(notAccepted.Messages[0].Compressed);
        Assert.Null(notAccepted.Header("grpc-encoding"));
    }

    [Fact]
    public async Task MaxSendMessageSize_ResponseTooLarge_ResourceExhausted()
    {
        await using var server = await InteropTestServer.StartAsync(o => o.MaxSendMessageSize = 1000);
        using var client = new RawGrpcClient(server.Address);

        var big = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { ResponseSize = 2000 }));
        var small = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { ResponseSize = 900 }));

        Assert.Equal(StatusCode.ResourceExhausted, big.Status);
        Assert.Empty(big.Messages);
        Assert.Equal(StatusCode.OK, small.Status);
    }

    [Fact]
    public async Task DefaultReceiveLimit_FourMiBPlusOne_ResourceExhausted()
    {
        await using var server = await InteropTestServer.StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var payload = new byte[(4 * 1024 * 1024) + 1];

        var response = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(payload) }));

        Assert.Equal(StatusCode.ResourceExhausted, response.Status);
    }

    [Fact]
    public async Task SixtyFourMiB_UnaryRoundTrip_PayloadIntact()
    {
        const int size = 64 * 1024 * 1024;
        await using var server = await InteropTestServer.StartAsync(o => o.MaxReceiveMessageSize = size + 1024);
        using var client = new RawGrpcClient(server.Address);
        var payload = InteropTestService.Payload(size);

        var response = await client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { Payload = payload }));

        Assert.Equal(StatusCode.OK, response.Status);
        Assert.True(response.Single(EchoReply.Parser).Payload.Span.SequenceEqual(payload.Span));
    }

    private static byte[] Decompress(string encoding, byte[] data)
    {
        using var input = new MemoryStream(data);
        using Stream z = encoding == "gzip" ? new GZipStream(input, CompressionMode.Decompress) : new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }
}
