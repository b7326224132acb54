using System.Net;
using Google.Protobuf;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>The four call shapes, statuses and metadata, driven with the raw HTTP/2 caller.</summary>
public sealed class ServerCallTests : IAsyncLifetime
{
    private const string Echo = "/r2m.interop.v1.InteropTest/Echo";
    private InteropTestServer _server = null!;
    private RawGrpcClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await InteropTestServer.StartAsync();
        _client = new RawGrpcClient(_server.Address);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Unary_EchoPayload_ReturnsMessageAndOkTrailers()
    {
        var request = new EchoRequest { Payload = ByteString.CopyFromUtf8("hello") };

        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(request));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        Assert.Equal("application/grpc", response.ContentType);
        Assert.False(response.TrailersOnly);
        Assert.Equal(StatusCode.OK, response.Status);
        var reply = response.Single(EchoReply.Parser);
        Assert.Equal("hello", reply.Payload.ToStringUtf8());
        Assert.Equal(1, reply.Received);
    }

    [Fact]
    public async Task Unary_ContentTypeWithSuffix_IsAccepted()
    {
        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest()), contentType: "application/grpc+proto");

        Assert.Equal(StatusCode.OK, response.Status);
    }

    [Fact]
    public async Task ServerStream_TenThousandMessages_AllArriveInOrder()
    {
        var request = new StreamRequest { Count = 10_000, ResponseSize = 8 };

        var response = await _client.CallAsync("/r2m.interop.v1.InteropTest/ServerStream", RawGrpcClient.Frame(request));

        Assert.Equal(StatusCode.OK, response.Status);
        Assert.Equal(10_000, response.Messages.Count);
        for (var i = 0; i < response.Messages.Count; i += 997)
        {
            Assert.Equal(i, EchoReply.Parser.ParseFrom(response.Messages[i].Payload).Index);
        }
    }

    [Fact]
    public async Task ServerStream_FailAfter_SendsMessagesThenErrorStatus()
    {
        var request = new StreamRequest { Count = 5, ResponseSize = 3, FailAfter = 2, FailWithCode = (int)StatusCode.Aborted };

        var response = await _client.CallAsync("/r2m.interop.v1.InteropTest/ServerStream", RawGrpcClient.Frame(request));

        Assert.Equal(2, response.Messages.Count);
        Assert.Equal(StatusCode.Aborted, response.Status);
        Assert.False(response.TrailersOnly);
    }

    [Fact]
    public async Task ClientStream_ManyMessagesInOneBody_CountsMessagesAndBytes()
    {
        var body = Enumerable.Range(0, 100)
            .SelectMany(i => RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFrom(new byte[i]) }))
            .ToArray();

        var response = await _client.CallAsync("/r2m.interop.v1.InteropTest/ClientStream", body);

        var reply = response.Single(SumReply.Parser);
        Assert.Equal(100, reply.Messages);
        Assert.Equal(Enumerable.Range(0, 100).Sum(), reply.TotalBytes);
    }

    [Fact]
    public async Task Bidi_PingPong_AnswersEachRequestBeforeTheNext()
    {
        using var call = _client.Start("/r2m.interop.v1.InteropTest/BidiStream");
        for (var i = 0; i < 5; i++)
        {
            await call.WriteAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8($"m{i}") });
            var reply = EchoReply.Parser.ParseFrom(await call.ReadMessageAsync());
            Assert.Equal($"m{i}", reply.Payload.ToStringUtf8());
            Assert.Equal(i + 1, reply.Received);
        }

        call.Content.Complete();
        Assert.Null(await call.ReadMessageAsync());
        var end = await call.FinishAsync();
        Assert.Equal(StatusCode.OK, end.Status);
    }

    [Fact]
    public async Task Unary_HandlerThrows_UnknownWithoutLeakingText()
    {
        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest { ThrowException = true }));

        Assert.Equal(StatusCode.Unknown, response.Status);
        Assert.DoesNotContain(InteropTestService.SecretExceptionText, response.Message ?? "");
        Assert.DoesNotContain(InteropTestService.SecretExceptionText, response.Headers.ToString() + response.Trailers);
        Assert.Empty(response.Messages);
    }

    [Fact]
    public async Task Unary_RpcExceptionWithUnicodeMessage_PercentEncodedInTrailersOnly()
    {
        var request = new EchoRequest { FailWithCode = (int)StatusCode.NotFound, ErrorMessage = "no such row: 100% ✓" };

        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(request));

        Assert.True(response.TrailersOnly);
        Assert.Equal(StatusCode.NotFound, response.Status);
        Assert.Equal("no such row: 100%25 %E2%9C%93", response.Message);
    }

    [Fact]
    public async Task Unary_EchoMetadata_AsciiAndBinaryInHeadersAndTrailers()
    {
        byte[] bytes = [0, 1, 2, 250, 255];
        var request = new EchoRequest { EchoMetadata = { "x-trace", "x-blob-bin" } };
        // Padded base64 on the way in; the server must accept it and send unpadded.
        var headers = new[] { ("x-trace", "abc-123"), ("x-blob-bin", Convert.ToBase64String(bytes)) };

        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(request), headers);

        Assert.Equal(StatusCode.OK, response.Status);
        Assert.Equal("abc-123", response.Header("x-trace"));
        Assert.Equal("abc-123", response.Trailer("x-trace"));
        Assert.Equal(Convert.ToBase64String(bytes).TrimEnd('='), response.Header("x-blob-bin"));
        Assert.Equal(Convert.ToBase64String(bytes).TrimEnd('='), response.Trailer("x-blob-bin"));
    }

    [Fact]
    public async Task Unary_UnknownMethod_TrailersOnlyUnimplemented()
    {
        var response = await _client.CallAsync("/r2m.interop.v1.InteropTest/Nope", RawGrpcClient.Frame(new EchoRequest()));

        Assert.Equal(HttpStatusCode.OK, response.HttpStatus);
        Assert.True(response.TrailersOnly);
        Assert.Equal(StatusCode.Unimplemented, response.Status);
        Assert.Contains("Method", response.Message);
    }

    [Fact]
    public async Task Unary_UnknownService_TrailersOnlyUnimplemented()
    {
        var response = await _client.CallAsync("/no.such.Service/Call", RawGrpcClient.Frame(new EchoRequest()));

        Assert.True(response.TrailersOnly);
        Assert.Equal(StatusCode.Unimplemented, response.Status);
        Assert.Contains("Service", response.Message);
    }

    [Fact]
    public async Task Unary_WrongContentType_Http415()
    {
        var response = await _client.CallAsync(Echo, RawGrpcClient.Frame(new EchoRequest()), contentType: "application/json");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.HttpStatus);
    }

    [Fact]
    public async Task Unary_NoMessage_Unimplemented()
    {
        var response = await _client.CallAsync(Echo, []);

        Assert.Equal(StatusCode.Unimplemented, response.Status);
    }

    [Fact]
    public async Task Unary_TwoMessages_Unimplemented()
    {
        var frame = RawGrpcClient.Frame(new EchoRequest());

        var response = await _client.CallAsync(Echo, [.. frame, .. frame]);

        Assert.Equal(StatusCode.Unimplemented, response.Status);
        Assert.Empty(response.Messages);
    }
}
