using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>grpc-timeout deadlines, client cancellation and connection loss reaching the handler.</summary>
public sealed class DeadlineAndCancellationTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Deadline_InjectedClockPasses_DeadlineExceededAndHandlerTokenCancelled()
    {
        var clock = new ManualTimeProvider();
        var probe = new Probe();
        await using var server = await InteropTestServer.StartAsync(
            services: s => s.AddSingleton<TimeProvider>(clock), definition: probe.Definition());
        using var client = new RawGrpcClient(server.Address);

        var call = client.CallAsync("/r2m.interop.v1.InteropTest/Echo", RawGrpcClient.Frame(new EchoRequest()),
            [("grpc-timeout", "5S")]);
        var context = await probe.Started.Task.WaitAsync(Wait);
        Assert.Equal(clock.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(5), context.Deadline);
        Assert.False(context.CancellationToken.IsCancellationRequested);
        clock.Advance(TimeSpan.FromSeconds(5));
        var response = await call.WaitAsync(Wait);

        Assert.Equal(StatusCode.DeadlineExceeded, response.Status);
        await probe.Cancelled.Task.WaitAsync(Wait);
    }

    [Fact]
    public async Task Deadline_AllUnitsParsed_DeadlineSetFromHeader()
    {
        var clock = new ManualTimeProvider();
        var probe = new Probe { Hold = false };
        await using var server = await InteropTestServer.StartAsync(
            services: s => s.AddSingleton<TimeProvider>(clock), definition: probe.Definition());
        using var client = new RawGrpcClient(server.Address);
        var expected = new Dictionary<string, TimeSpan>
        {
            ["2H"] = TimeSpan.FromHours(2), ["3M"] = TimeSpan.FromMinutes(3), ["4S"] = TimeSpan.FromSeconds(4),
            ["5m"] = TimeSpan.FromMilliseconds(5), ["6u"] = TimeSpan.FromMicroseconds(6), ["700n"] = TimeSpan.FromTicks(7),
        };
        foreach (var (header, timeout) in expected)
        {
            probe.Reset();
            var response = await client.CallAsync("/r2m.interop.v1.InteropTest/Echo", RawGrpcClient.Frame(new EchoRequest()),
                [("grpc-timeout", header)]);
            Assert.Equal(StatusCode.OK, response.Status);
            var context = await probe.Started.Task.WaitAsync(Wait);
            Assert.Equal(clock.GetUtcNow().UtcDateTime + timeout, context.Deadline);
        }
    }

    [Fact]
    public async Task Deadline_RealClockMidStream_SomeMessagesThenDeadlineExceeded()
    {
        await using var server = await InteropTestServer.StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var request = new StreamRequest { Count = 10_000, ResponseSize = 10, IntervalMs = 20 };

        var response = await client.CallAsync("/r2m.interop.v1.InteropTest/ServerStream", RawGrpcClient.Frame(request),
            [("grpc-timeout", "300m")]);

        Assert.Equal(StatusCode.DeadlineExceeded, response.Status);
        Assert.InRange(response.Messages.Count, 1, 9_999);
    }

    [Fact]
    public async Task Cancel_ClientResetsStreamMidStream_HandlerTokenFiresAndServerKeepsServing()
    {
        var probe = new Probe();
        await using var server = await InteropTestServer.StartAsync(definition: probe.Definition());
        using var client = new RawGrpcClient(server.Address);

        var call = client.Start("/r2m.interop.v1.InteropTest/BidiStream");
        await call.WriteAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8("x") });
        Assert.NotNull(await call.ReadMessageAsync());
        call.Dispose(); // disposing the response of an unfinished HTTP/2 request sends RST_STREAM(CANCEL)

        await probe.Cancelled.Task.WaitAsync(Wait);
        var after = await client.CallAsync("/grpc.health.v1.Health/Check", RawGrpcClient.Frame(new R2M.Grpc.Health.V1.HealthCheckRequest()));
        Assert.Equal(StatusCode.OK, after.Status);
    }

    [Fact]
    public async Task Cancel_ConnectionDropped_HandlerTokenFiresAndServerKeepsServing()
    {
        var probe = new Probe();
        await using var server = await InteropTestServer.StartAsync(definition: probe.Definition());
        var doomed = new RawGrpcClient(server.Address);
        var call = doomed.Start("/r2m.interop.v1.InteropTest/BidiStream");
        await call.WriteAsync(new EchoRequest());
        Assert.NotNull(await call.ReadMessageAsync());

        doomed.AbortConnections(); // resets the TCP connection under the open stream

        await probe.Cancelled.Task.WaitAsync(Wait);
        doomed.Dispose();
        using var client = new RawGrpcClient(server.Address);
        var after = await client.CallAsync("/grpc.health.v1.Health/Check", RawGrpcClient.Frame(new R2M.Grpc.Health.V1.HealthCheckRequest()));
        Assert.Equal(StatusCode.OK, after.Status);
    }

    /// <summary>
    /// InteropTest bound to handlers that report their context: Echo waits until cancelled (when
    /// <see cref="Hold"/>), BidiStream answers each message and then waits for cancellation.
    /// </summary>
    private sealed class Probe
    {
        public bool Hold { get; init; } = true;

        public TaskCompletionSource<ServerCallContext> Started { get; private set; } = NewTcs<ServerCallContext>();

        public TaskCompletionSource<bool> Cancelled { get; private set; } = NewTcs<bool>();

        public void Reset()
        {
            Started = NewTcs<ServerCallContext>();
            Cancelled = NewTcs<bool>();
        }

        public GrpcServiceDefinition Definition() =>
            new GrpcServiceDefinition(InteropReflection.Descriptor.Services[0])
                .AddUnary<EchoRequest, EchoReply>("Echo", EchoAsync)
                .AddDuplexStreaming<EchoRequest, EchoReply>("BidiStream", BidiAsync);

        private async Task<EchoReply> EchoAsync(EchoRequest request, ServerCallContext context)
        {
            context.CancellationToken.Register(() => Cancelled.TrySetResult(true));
            Started.TrySetResult(context);
            if (Hold)
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }

            return new EchoReply();
        }

        private async Task BidiAsync(IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
        {
            context.CancellationToken.Register(() => Cancelled.TrySetResult(true));
            Started.TrySetResult(context);
            while (await requests.MoveNext(context.CancellationToken))
            {
                await responses.WriteAsync(new EchoReply { Payload = requests.Current.Payload });
            }
        }

        private static TaskCompletionSource<T> NewTcs<T>() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
