using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using R2M.Client.Cli;
using R2M.Client.Internal;

namespace R2M.Client.Tests;

public sealed class RetryTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ServerDown_FailsAfterAllRetries_WithClearMessage()
    {
        int port = ClosedPort();
        var retries = new List<(int Attempt, TimeSpan Delay)>();
        using var client = new R2MClient(new R2MClientOptions
        {
            Address = $"127.0.0.1:{port}",
            MaxAttempts = 3,
            InitialBackoff = TimeSpan.FromMilliseconds(20),
            MaxBackoff = TimeSpan.FromMilliseconds(100),
            OnRetry = (_, attempt, _, delay) => retries.Add((attempt, delay)),
        });
        var e = await Assert.ThrowsAsync<R2MClientException>(() => client.InfoAsync().WaitAsync(Limit));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Equal(3, e.Attempts);
        Assert.StartsWith("Admin.Info failed after 3 attempts", e.Message);
        Assert.Contains($"is r2m-server running and reachable at http://127.0.0.1:{port}", e.Message);
        Assert.Equal([1, 2], retries.Select(r => r.Attempt));
    }

    [Fact]
    public async Task TrainCli_ServerDown_ExitCode1AfterRetries()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync(["train", "--server", $"127.0.0.1:{ClosedPort()}", "--retries", "2", "--backoff-ms", "10",
            "--out", Path.Combine(Path.GetTempPath(), "r2m-down-" + Guid.NewGuid().ToString("N"))], output, error).WaitAsync(Limit);
        Assert.Equal(1, rc);
        // A fresh train resets the server first (--no-reset opts out), so Reset is the first call to fail.
        Assert.Contains("r2m-client: Admin.Reset failed after 2 attempts", error.ToString());
        Assert.Contains("retry 1", output.ToString());
    }

    [Fact]
    public async Task TransientThenSuccess_RetriedAndReturned()
    {
        using var runner = new CallRunner(new R2MClientOptions { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero, MaxAttempts = 3 });
        int calls = 0;
        int result = await runner.RunAsync("X", _ =>
        {
            calls++;
            return calls < 3 ? throw new RpcException(new Status(StatusCode.Unavailable, "blip")) : Task.FromResult(42);
        }, default).WaitAsync(Limit);
        Assert.Equal(42, result);
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task NonTransient_NotRetried()
    {
        using var runner = new CallRunner(new R2MClientOptions { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero });
        int calls = 0;
        var e = await Assert.ThrowsAsync<R2MClientException>(() => runner.RunAsync<int>("Policy.Optimize", _ =>
        {
            calls++;
            throw new RpcException(new Status(StatusCode.InvalidArgument, "epochs out of range"));
        }, default).WaitAsync(Limit));
        Assert.Equal(1, calls);
        Assert.Equal("Policy.Optimize failed after 1 attempt: InvalidArgument: epochs out of range", e.Message);
    }

    [Fact]
    public async Task ConnectionReset_IOException_TreatedAsTransient()
    {
        using var runner = new CallRunner(new R2MClientOptions { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero, MaxAttempts = 2 });
        int calls = 0;
        var e = await Assert.ThrowsAsync<R2MClientException>(() => runner.RunAsync<int>("X", _ =>
        {
            calls++;
            throw new IOException("Connection reset by peer");
        }, default).WaitAsync(Limit));
        Assert.Equal(2, calls);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("Connection reset by peer", e.Message);
    }

    [Fact]
    public void Backoff_ExponentialWithinJitterBounds_Capped()
    {
        using var runner = new CallRunner(new R2MClientOptions
        {
            InitialBackoff = TimeSpan.FromMilliseconds(100),
            MaxBackoff = TimeSpan.FromMilliseconds(1000),
            JitterSeed = 5,
        });
        for (int i = 0; i < 50; i++)
        {
            foreach ((int attempt, double step) in new[] { (1, 100.0), (2, 200.0), (3, 400.0), (4, 800.0), (5, 1000.0), (9, 1000.0) })
            {
                double ms = runner.Backoff(attempt).TotalMilliseconds;
                Assert.InRange(ms, step / 2, step);
            }
        }

        var delays = Enumerable.Range(0, 20).Select(_ => runner.Backoff(3).TotalMilliseconds).Distinct().Count();
        Assert.True(delays > 10, "jitter should spread the delays");
    }

    [Fact]
    public async Task ConcurrencyCap_NeverMoreThanMaxInFlight()
    {
        using var runner = new CallRunner(new R2MClientOptions { MaxConcurrency = 2 });
        int inFlight = 0, peak = 0;
        var tasks = Enumerable.Range(0, 10).Select(_ => runner.RunAsync("X", async o =>
        {
            int now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref peak, now);
            await Task.Delay(20, o.CancellationToken);
            Interlocked.Decrement(ref inFlight);
            return 1;
        }, default));
        int[] results = await Task.WhenAll(tasks).WaitAsync(Limit);
        Assert.Equal(10, results.Sum());
        Assert.Equal(2, peak);
        Assert.Equal(2, runner.PeakInFlight);
    }

    [Fact]
    public async Task EveryAttempt_GetsTheConfiguredDeadline()
    {
        using var runner = new CallRunner(new R2MClientOptions { CallTimeout = TimeSpan.FromSeconds(7) });
        DateTime before = DateTime.UtcNow;
        DateTime? seen = await runner.RunAsync("X", o => Task.FromResult(o.Deadline), default).WaitAsync(Limit);
        DateTime? channel = await runner.RunRetriedByChannelAsync("Y", o => Task.FromResult(o.Deadline), default).WaitAsync(Limit);
        foreach (var deadline in new[] { seen, channel })
        {
            Assert.InRange(deadline!.Value, before.AddSeconds(7), DateTime.UtcNow.AddSeconds(7));
        }
    }

    internal static int ClosedPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
