using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using R2M.Grpc.Client;
using R2M.Grpc.Tests.Interop;
using R2M.Grpc.Tests.Server;

namespace R2M.Grpc.Tests.Client;

/// <summary>Client features end to end against our server (and a raw endpoint where needed).</summary>
public sealed class ClientCallTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Unary_DeadlineOnInjectedClock_FailsDeadlineExceededWhenClockPasses()
    {
        await using var server = await InteropTestServer.StartAsync();
        var clock = new ManualTimeProvider();
        using var channel = Channel.ForAddress(server.Address, new ChannelOptions { TimeProvider = clock });
        using var call = channel.CallInvoker.AsyncUnaryCall(InteropCases.Echo, new EchoRequest { DelayMs = 20_000 },
            new CallOptions { Timeout = TimeSpan.FromSeconds(5) });
        await Task.Delay(200);
        Assert.False(call.ResponseAsync.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(5));
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(Wait));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task Unary_DeadlineAlreadyPassed_FailsWithoutSending()
    {
        var requests = 0;
        await using var server = await RawHttp2Server.StartAsync(ctx =>
        {
            Interlocked.Increment(ref requests);
            return Task.CompletedTask;
        });
        var clock = new ManualTimeProvider();
        using var channel = Channel.ForAddress(server.Address, new ChannelOptions { TimeProvider = clock });
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(InteropCases.Echo, new EchoRequest(),
            new CallOptions { Deadline = clock.GetUtcNow() - TimeSpan.FromSeconds(1) }).WaitAsync(Wait));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.Equal(0, requests);
    }

    [Fact]
    public async Task ServerStream_DisposeMidStream_ResetsStreamAndServerSeesAbort()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            ctx.RequestAborted.Register(() => aborted.TrySetResult());
            ctx.Response.ContentType = "application/grpc";
            for (var i = 0; !ctx.RequestAborted.IsCancellationRequested; i++)
            {
                await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply { Index = i }.ToByteArray());
                await Task.Delay(10);
            }
        });
        using var channel = Channel.ForAddress(server.Address);
        var call = channel.CallInvoker.AsyncServerStreamingCall(InteropCases.ServerStream, new StreamRequest());
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Wait));
        call.Dispose();
        await aborted.Task.WaitAsync(Wait);
        Assert.Equal(StatusCode.Cancelled, call.GetStatus().StatusCode);
        await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Wait));
    }

    [Fact]
    public async Task Interceptors_RunInOrderAndSeeFinalStatus()
    {
        await using var server = await InteropTestServer.StartAsync();
        var log = new List<string>();
        var options = new ChannelOptions();
        options.Interceptors.Add(new RecordingInterceptor("outer", log));
        options.Interceptors.Add(new RecordingInterceptor("inner", log));
        using var channel = Channel.ForAddress(server.Address, options);
        await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(InteropCases.Echo,
            new EchoRequest { FailWithCode = (int)StatusCode.NotFound }).WaitAsync(Wait));
        Assert.Equal(["outer:unary", "inner:unary", "outer:start", "inner:start", "outer:done:NotFound", "inner:done:NotFound"], log);
    }

    [Fact]
    public async Task Retry_UnavailableTwiceThenOk_SucceedsOnThirdAttempt()
    {
        var attempts = 0;
        await using var server = await RawHttp2Server.StartAsync(async ctx =>
        {
            ctx.Response.ContentType = "application/grpc";
            if (Interlocked.Increment(ref attempts) < 3)
            {
                ctx.Response.Headers["grpc-status"] = "14";
                return;
            }

            await RawHttp2Server.WriteMessageAsync(ctx.Response, new EchoReply { Index = 7 }.ToByteArray());
            ctx.Response.AppendTrailer("grpc-status", "0");
        });
        var options = new ChannelOptions();
        options.Interceptors.Add(new RetryInterceptor { MaxAttempts = 4, InitialBackoff = TimeSpan.FromMilliseconds(1) });
        using var channel = Channel.ForAddress(server.Address, options);
        var reply = await channel.UnaryAsync(InteropCases.Echo, new EchoRequest()).WaitAsync(Wait);
        Assert.Equal(7, reply.Index);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Retry_NonRetryableStatus_IsNotRetried()
    {
        await using var server = await InteropTestServer.StartAsync();
        var seen = new List<StatusCode>();
        var options = new ChannelOptions();
        options.Interceptors.Add(new RetryInterceptor { MaxAttempts = 4, InitialBackoff = TimeSpan.FromMilliseconds(1) });
        options.Interceptors.Add(new CallObserverInterceptor((_, status, _) => { lock (seen) { seen.Add(status.StatusCode); } }));
        using var channel = Channel.ForAddress(server.Address, options);
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(InteropCases.Echo,
            new EchoRequest { FailWithCode = (int)StatusCode.InvalidArgument }).WaitAsync(Wait));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal([StatusCode.InvalidArgument], seen);
    }

    [Fact]
    public async Task Https_SelfSignedCertificate_CallsOverTlsWithAlpnH2()
    {
        using var cert = CreateSelfSigned();
        await using var server = await InteropTestServer.StartAsync(certificate: cert);
        Assert.Equal("https", server.Address.Scheme);
        var options = new ChannelOptions { ServerCertificateValidation = (_, c, _, _) => c is not null && c.GetCertHashString() == cert.GetCertHashString() };
        using var channel = Channel.ForAddress(server.Address, options);
        var reply = await channel.UnaryAsync(InteropCases.Echo, new EchoRequest { Payload = ByteString.CopyFromUtf8("tls") }).WaitAsync(Wait);
        Assert.Equal("tls", reply.Payload.ToStringUtf8());
    }

    [Fact]
    public async Task Channel_UnreachableServer_IsUnavailable()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens on this port any more
        using var channel = Channel.ForAddress($"http://127.0.0.1:{port}");
        var e = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(InteropCases.Echo, new EchoRequest()).WaitAsync(Wait));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
    }

    [Fact]
    public void Channel_BadAddressOrMismatchedTypes_ThrowClearErrors()
    {
        Assert.Contains("http://", Assert.Throws<ArgumentException>(() => Channel.ForAddress("ftp://x:1")).Message);
        Assert.Contains("absolute URI", Assert.Throws<ArgumentException>(() => Channel.ForAddress("not a uri")).Message);
        var echo = InteropCases.Service.FindMethodByName("Echo");
        var e = Assert.Throws<ArgumentException>(() => Method<StreamRequest, EchoReply>.FromDescriptor(echo));
        Assert.Contains("r2m.interop.v1.InteropTest.Echo", e.Message);
        using var channel = Channel.ForAddress("http://127.0.0.1:1");
        Assert.Throws<ArgumentException>(() => channel.CallInvoker.AsyncUnaryCall(InteropCases.BidiStream, new EchoRequest()));
    }

    [Fact]
    public async Task ClientStream_WriteAfterComplete_Throws()
    {
        await using var server = await InteropTestServer.StartAsync();
        using var channel = Channel.ForAddress(server.Address);
        using var call = channel.CallInvoker.AsyncClientStreamingCall(InteropCases.ClientStream);
        await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8("abc") }).WaitAsync(Wait);
        await call.RequestStream.CompleteAsync().WaitAsync(Wait);
        await Assert.ThrowsAsync<InvalidOperationException>(() => call.RequestStream.WriteAsync(new EchoRequest()));
        var reply = await call.ResponseAsync.WaitAsync(Wait);
        Assert.Equal(1, reply.Messages);
        Assert.Equal(3, reply.TotalBytes);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    private static X509Certificate2 CreateSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    private sealed class RecordingInterceptor(string name, List<string> log) : ClientInterceptor
    {
        public override ValueTask OnCallStartingAsync(ClientCallContext context)
        {
            lock (log)
            {
                log.Add(name + ":start");
            }

            return ValueTask.CompletedTask;
        }

        public override void OnCallCompleted(ClientCallContext context, Status status, TimeSpan elapsed)
        {
            lock (log)
            {
                log.Add($"{name}:done:{status.StatusCode}");
            }
        }

        public override Task<TResponse> InterceptUnaryAsync<TRequest, TResponse>(
            TRequest request, ClientCallContext context, UnaryContinuation<TRequest, TResponse> next)
        {
            lock (log)
            {
                log.Add(name + ":unary");
            }

            return next(request, context);
        }
    }
}
