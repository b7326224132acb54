using System.Collections.Concurrent;
using Google.Protobuf;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

public sealed class InterceptorTests
{
    [Fact]
    public async Task Interceptors_AllCallShapes_RunOutermostFirstAroundHandler()
    {
        var log = new ConcurrentQueue<string>();
        await using var server = await InteropTestServer.StartAsync(o =>
        {
            o.Interceptors.Add(new RecordingInterceptor("outer", log));
            o.Interceptors.Add(new RecordingInterceptor("inner", log));
        });
        using var client = new RawGrpcClient(server.Address);
        var echo = RawGrpcClient.Frame(new EchoRequest());

        await client.CallAsync("/r2m.interop.v1.InteropTest/Echo", echo);
        await client.CallAsync("/r2m.interop.v1.InteropTest/ServerStream", RawGrpcClient.Frame(new StreamRequest { Count = 1 }));
        await client.CallAsync("/r2m.interop.v1.InteropTest/ClientStream", echo);
        var bidi = await client.CallAsync("/r2m.interop.v1.InteropTest/BidiStream", echo);

        Assert.Equal(StatusCode.OK, bidi.Status);
        Assert.Equal(
        [
            "outer>unary", "inner>unary", "inner<unary", "outer<unary",
            "outer>server", "inner>server", "inner<server", "outer<server",
            "outer>client", "inner>client", "inner<client", "outer<client",
            "outer>duplex", "inner>duplex", "inner<duplex", "outer<duplex",
        ], log.ToArray());
    }

    [Fact]
    public async Task BearerAuth_MissingWrongAndRightToken_UnauthenticatedUnlessValid()
    {
        await using var server = await InteropTestServer.StartAsync(o =>
            o.Interceptors.Add(new BearerTokenAuthInterceptor(t => t == "s3cret", ["grpc.health.v1.Health"])));
        using var client = new RawGrpcClient(server.Address);
        var echo = RawGrpcClient.Frame(new EchoRequest());
        const string path = "/r2m.interop.v1.InteropTest/Echo";

        var missing = await client.CallAsync(path, echo);
        var wrong = await client.CallAsync(path, echo, [("authorization", "Bearer nope")]);
        var right = await client.CallAsync(path, echo, [("authorization", "Bearer s3cret")]);
        var streaming = await client.CallAsync("/r2m.interop.v1.InteropTest/BidiStream", echo);
        var health = await client.CallAsync("/grpc.health.v1.Health/Check", RawGrpcClient.Frame(new R2M.Grpc.Health.V1.HealthCheckRequest()));

        Assert.Equal(StatusCode.Unauthenticated, missing.Status);
        Assert.Equal(StatusCode.Unauthenticated, wrong.Status);
        Assert.Equal(StatusCode.OK, right.Status);
        Assert.Equal(StatusCode.Unauthenticated, streaming.Status);
        Assert.Equal(StatusCode.OK, health.Status);
    }

    [Fact]
    public async Task BearerAuth_PerMethodRule_OnlyRuledMethodsNeedToken()
    {
        const string streamPath = "/r2m.interop.v1.InteropTest/BidiStream";
        await using var server = await InteropTestServer.StartAsync(o =>
            o.Interceptors.Add(new BearerTokenAuthInterceptor(BearerTokenAuthInterceptor.ConstantTimeEquals("s3cret"), m => m == streamPath)));
        using var client = new RawGrpcClient(server.Address);
        var echo = RawGrpcClient.Frame(new EchoRequest());

        var open = await client.CallAsync("/r2m.interop.v1.InteropTest/Echo", echo);
        var missing = await client.CallAsync(streamPath, echo);
        var wrong = await client.CallAsync(streamPath, echo, [("authorization", "Bearer s3cre")]);
        var right = await client.CallAsync(streamPath, echo, [("authorization", "bearer s3cret")]);

        Assert.Equal(StatusCode.OK, open.Status);
        Assert.Equal(StatusCode.Unauthenticated, missing.Status);
        Assert.Contains(streamPath, missing.Message, StringComparison.Ordinal); // names the method that needs it
        Assert.Equal(StatusCode.Unauthenticated, wrong.Status);
        Assert.Equal(StatusCode.OK, right.Status);
    }

    [Fact]
    public async Task Interceptor_SeesRequestAndCanShortCircuitWithStatus()
    {
        await using var server = await InteropTestServer.StartAsync(o => o.Interceptors.Add(new RejectEmptyPayload()));
        using var client = new RawGrpcClient(server.Address);

        var empty = await client.CallAsync("/r2m.interop.v1.InteropTest/Echo", RawGrpcClient.Frame(new EchoRequest()));
        var full = await client.CallAsync("/r2m.interop.v1.InteropTest/Echo",
            RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFromUtf8("x") }));

        Assert.Equal(StatusCode.InvalidArgument, empty.Status);
        Assert.Equal(StatusCode.OK, full.Status);
    }

    private sealed class RecordingInterceptor(string name, ConcurrentQueue<string> log) : ServerInterceptor
    {
        public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
            TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
        {
            log.Enqueue($"{name}>unary");
            var response = await continuation(request, context);
            log.Enqueue($"{name}<unary");
            return response;
        }

        public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
            TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            log.Enqueue($"{name}>server");
            await continuation(request, responseStream, context);
            log.Enqueue($"{name}<server");
        }

        public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
            IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
        {
            log.Enqueue($"{name}>client");
            var response = await continuation(requestStream, context);
            log.Enqueue($"{name}<client");
            return response;
        }

        public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
            IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            DuplexStreamingServerMethod<TRequest, TResponse> continuation)
        {
            log.Enqueue($"{name}>duplex");
            await continuation(requestStream, responseStream, context);
            log.Enqueue($"{name}<duplex");
        }
    }

    private sealed class RejectEmptyPayload : ServerInterceptor
    {
        public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
            TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
        {
            if (request is EchoRequest { Payload.IsEmpty: true })
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "payload is empty"));
            }

            return continuation(request, context);
        }
    }
}
