using System.Collections.Concurrent;
using System.IO.Compression;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using R2M.Grpc.Client;
using R2M.Grpc.Tests.Interop;
using R2M.Grpc.Tests.Server;

namespace R2M.Grpc.Tests.Client;

/// <summary>Client behaviour against hand-written HTTP/2 responses (docs/specs.md section 1).</summary>
public sealed class ClientProtocolTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly Method<EchoRequest, EchoReply> Echo = InteropCases.Echo;
    private static readonly Method<StreamRequest, EchoReply> ServerStream = InteropCases.ServerStream;

    private static async Task<RpcException> CallFailsAsync(
        RequestDelegate handler, ChannelOptions? options = null, CallOptions? call = null, EchoRequest? request = null)
    {
        await using var server = await RawHttp2Server.StartAsync(handler);
        using var channel = Channel.ForAddress(server.Address, options);
        return await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(Echo, request ?? new EchoRequest(), call).WaitAsync(Wait));
    }

    [Theory]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(403, StatusCode.PermissionDenied)]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(429, StatusCode.Unavailable)]
    [InlineData(502, StatusCode.Unavailable)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(504, StatusCode.Unavailable)]
    [InlineData(500, StatusCode.Unknown)]
    public async Task Unary_HttpErrorWithoutGrpcStatus_MapsHttpStatus(int httpStatus, StatusCode expected)
    {
        var e = await CallFailsAsync(ctx =>
        {
            ctx.Response.StatusCode = httpStatus;
            return Task.CompletedTask;
        });
        Assert.Equal(expected, e.StatusCode);
        Assert.Contains(httpStatus.ToString(), e.Status.Detail);
    }

    [Theory]
    [InlineData(0x7, StatusCode.Unavailable)]        // REFUSED_STREAM
    [InlineData(0x8, StatusCode.Cancelled)]          // CANCEL
    [InlineData(0xb, StatusCode.ResourceExhausted)]  // ENHANCE_YOUR_CALM
    [InlineData(0xc, StatusCode.PermissionDenied)]   // INADEQUATE_SECURITY
    [InlineData(0x2, StatusCode.Internal)]           // INTERNAL_ERROR
    [InlineData(0x1, StatusCode.Internal)]           // PROTOCOL_ERROR
    public async Task ServerStream_ResetMidStream_MapsHttp2ErrorCode(int errorCode, StatusCode expected)
    {
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply { Index = 0 }.ToByteArray());
            await Task.Delay(50);
            ctx.Features.Get<IHttpResetFeature>()!.Reset(errorCode);
        });
        using var channel = Channel.ForAddress(server.Address);
        using var call = channel.CallInvoker.AsyncServerStreamingCall(ServerStream, new StreamRequest());

        // Whether the reply before the reset is still delivered depends on timing; the status does not.
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Wait))
            {
            }
        });
        Assert.Equal(expected, e.StatusCode);
        Assert.Equal(expected, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Unary_TrailersOnly_StatusMessageAndMetadataFromHeaders()
    {
        await using var server = await RawHttp2Server.StartAsync(ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.Headers["grpc-status"] = "5";
            ctx.Response.Headers["grpc-message"] = "no %25 such %E2%9C%93";
            ctx.Response.Headers["x-why"] = "gone";
            return Task.CompletedTask;
        });
        using var channel = Channel.ForAddress(server.Address);
        using var call = channel.CallInvoker.AsyncUnaryCall(Echo, new EchoRequest());
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(Wait));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Equal("no % such \u2713", e.Status.Detail);
        Assert.Equal("gone", call.GetTrailers().GetValue("x-why"));
        Assert.Equal("gone", e.Trailers.GetValue("x-why"));
    }

    [Fact]
    public async Task ClientStream_ServerEndsBeforeReading_WriteFailsWithServerStatus()
    {
        // The server answers Trailers-Only without reading the body; the client keeps writing
        // until the reset request half makes a write fail. The error must carry the server's status.
        await using var server = await RawHttp2Server.StartAsync(ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.Headers["grpc-status"] = "16";
            ctx.Response.Headers["grpc-message"] = "missing key";
            return Task.CompletedTask;
        });
        using var channel = Channel.ForAddress(server.Address);
        using var call = channel.CallInvoker.AsyncClientStreamingCall(InteropCases.ClientStream);
        var chunk = new EchoRequest { Payload = ByteString.CopyFrom(new byte[256 * 1024]) };
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            for (int i = 0; i < 4096; i++)
            {
                await call.RequestStream.WriteAsync(chunk).WaitAsync(Wait);
            }

            await call.RequestStream.CompleteAsync().WaitAsync(Wait);
            await call.ResponseAsync.WaitAsync(Wait);
        });
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Equal("missing key", e.Status.Detail);
    }

    [Fact]
    public async Task Unary_BodyWithoutGrpcStatusTrailer_IsInternal()
    {
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
        });
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("grpc-status", e.Status.Detail);
    }

    [Fact]
    public async Task Unary_NonGrpcContentType_IsUnknown()
    {
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.Response.ContentType = "text/html";
            await ctx.Response.WriteAsync("<html>proxy error</html>");
        });
        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Contains("text/html", e.Status.Detail);
    }

    [Fact]
    public async Task Unary_UnsupportedResponseEncoding_IsInternal()
    {
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.Headers["grpc-encoding"] = "snappy";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("snappy", e.Status.Detail);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    public async Task Unary_CompressedResponse_DecompressedPerMessage(string encoding)
    {
        // compression.md: flag 1 means the message is compressed with the response's grpc-encoding
        // ("deflate" is the zlib format).
        var reply = new EchoReply { Payload = InteropTestService.Payload(20000), Index = 7 };
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            ctx.Response.Headers["grpc-encoding"] = encoding;
            await RawHttp2Server.WriteMessageAsync(ctx.Response, Compress(encoding, reply.ToByteArray()), compressed: true);
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        using var channel = Channel.ForAddress(server.Address);

        var got = await channel.UnaryAsync(Echo, new EchoRequest()).WaitAsync(Wait);

        Assert.Equal(reply, got);
    }

    [Fact]
    public async Task Unary_CompressedFlagWithoutEncoding_IsInternal()
    {
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, Compress("gzip", new EchoReply().ToByteArray()), compressed: true);
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("grpc-encoding", e.Status.Detail);
    }

    private static byte[] Compress(string encoding, byte[] data)
    {
        using var output = new MemoryStream();
        using (Stream z = encoding == "gzip"
            ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)
            : new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(data);
        }

        return output.ToArray();
    }

    [Fact]
    public async Task Unary_TwoResponseMessages_IsInternal()
    {
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        Assert.Equal(StatusCode.Internal, e.StatusCode);
    }

    [Fact]
    public async Task Unary_RequestHeaders_FollowTheSpec()
    {
        var seen = new ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            foreach (var (k, v) in ctx.Request.Headers)
            {
                seen[k] = v.ToString();
            }

            seen[":path"] = ctx.Request.Path;
            seen["protocol"] = ctx.Request.Protocol;
            var messages = await RawHttp2Server.ReadMessagesAsync(ctx.Request);
            seen["messages"] = messages.Count.ToString();
            seen["compressed"] = messages[0].Compressed.ToString();
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        var options = new ChannelOptions();
        options.Interceptors.Add(new BearerTokenInterceptor(_ => ValueTask.FromResult("t0k3n")));
        using var channel = Channel.ForAddress(server.Address, options);
        var headers = new Metadata { { "x-trace-bin", new byte[] { 1, 2, 3, 4 } }, { "x-user", "bob" } };
        await channel.UnaryAsync(Echo, new EchoRequest { Payload = ByteString.CopyFromUtf8(new string('a', 4000)) },
            new CallOptions { Headers = headers, Timeout = TimeSpan.FromSeconds(20), Compression = "gzip" }).WaitAsync(Wait);

        Assert.Equal("HTTP/2", seen["protocol"]);
        Assert.Equal("/r2m.interop.v1.InteropTest/Echo", seen[":path"]);
        Assert.True(seen.ContainsKey("te"), "headers seen: " + string.Join(",", seen.Keys));
        Assert.Equal("trailers", seen["te"]);
        Assert.Equal("application/grpc", seen["content-type"]);
        Assert.Equal("gzip", seen["grpc-encoding"]);
        Assert.Contains("gzip", seen["grpc-accept-encoding"]);
        Assert.StartsWith("grpc-", seen["user-agent"]);
        Assert.Equal("AQIDBA", seen["x-trace-bin"]); // unpadded base64
        Assert.Equal("bob", seen["x-user"]);
        Assert.Equal("Bearer t0k3n", seen["authorization"]);
        Assert.Equal("1", seen["messages"]);
        Assert.Equal("True", seen["compressed"]);

        // 20 s minus the time to send, formatted in the finest unit that fits in 8 digits.
        var timeout = seen["grpc-timeout"];
        Assert.Matches("^[0-9]{1,8}[HMSmun]$", timeout);
        Assert.True(R2M.Grpc.Internal.GrpcTimeout.TryParse(timeout, out var parsed));
        Assert.InRange(parsed, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Unary_MessageOverSendLimit_FailsLocallyWithoutSending()
    {
        var requests = 0;
        var e = await CallFailsAsync(ctx =>
        {
            Interlocked.Increment(ref requests);
            return Task.CompletedTask;
        }, new ChannelOptions { MaxSendMessageSize = 16 }, new CallOptions(), new EchoRequest { Payload = ByteString.CopyFrom(new byte[100]) });
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(0, requests);
    }

    [Fact]
    public async Task ClientStream_MessageOverSendLimit_FailsWithoutAwaitingServerStatus()
    {
        // A local error is not one the server's status can explain, so the write must fail at once.
        // The manual clock never ends the grace period for a server status: waiting would hang here.
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        var options = new ChannelOptions { MaxSendMessageSize = 16, TimeProvider = new ManualTimeProvider() };
        using var channel = Channel.ForAddress(server.Address, options);
        using var call = channel.CallInvoker.AsyncClientStreamingCall(InteropCases.ClientStream);
        var big = new EchoRequest { Payload = ByteString.CopyFrom(new byte[100]) };
        var e = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(big).WaitAsync(Wait));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task Unary_ClaimedLengthOverReceiveLimit_IsResourceExhaustedAndStreamReset()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var e = await CallFailsAsync(async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            ctx.Response.ContentType = "application/grpc";
            // Prefix claims 4 GiB - 1 bytes; the client must refuse it from the prefix alone.
            await ctx.Response.Body.WriteAsync(new byte[] { 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3 });
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted).ContinueWith(_ => { });
        }, new ChannelOptions { MaxReceiveMessageSize = 1024 });
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        await aborted.Task.WaitAsync(Wait); // the client reset the stream (RST_STREAM)
    }

    [Fact]
    public async Task Unary_SequentialAndConcurrentCalls_ReuseOneConnection()
    {
        var connections = new ConcurrentDictionary<string, int>();
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            connections.AddOrUpdate(ctx.Connection.Id, 1, (_, n) => n + 1);
            await RawHttp2Server.ReadMessagesAsync(ctx.Request);
            ctx.Response.ContentType = "application/grpc";
            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply().ToByteArray());
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        using var channel = Channel.ForAddress(server.Address);
        for (var i = 0; i < 5; i++)
        {
            await channel.UnaryAsync(Echo, new EchoRequest()).WaitAsync(Wait);
        }

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => channel.UnaryAsync(Echo, new EchoRequest()))).WaitAsync(Wait);
        var only = Assert.Single(connections); // 25 calls multiplexed as HTTP/2 streams on one connection
        Assert.Equal(25, only.Value);
    }
}
