using Grpc.Core;
using R2M.Api.V1;
using R2M.Client.Internal;

namespace R2M.Client.Tests;

/// <summary>
/// Policy.Optimize and RewardModel.Update advance a server version each time they are applied, so a
/// plain retry after a lost reply would apply them twice: every attempt carries the same request_id
/// (the server answers a re-send of an applied call with its first reply), and the version is
/// checked to catch a server that lost its state (R2MClient.RunNotIdempotentAsync).
/// </summary>
public sealed class NonIdempotentRetryTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OptimizeAsync_TransientFailureAfterApply_ResentAndGetsTheFirstReply()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        server.FailAfterApply(1);
        using var client = Client(server, maxAttempts: 5);

        OptimizeReply reply = await client.OptimizeAsync(new OptimizeConfig(), [Item()]).WaitAsync(Limit);

        Assert.Equal(1, server.Applied); // the re-send was answered, not applied
        Assert.Equal(4UL, server.PolicyVersion);
        Assert.Equal(4UL, reply.PolicyVersion);
        Assert.Equal(2, server.RequestIds.Count);
    }

    [Fact]
    public async Task OptimizeAsync_TransientFailureWhileServerStillApplies_ResentAndGetsTheFirstReply()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        server.FailWhileApplying(1);
        using var client = Client(server, maxAttempts: 5);

        OptimizeReply reply = await client.OptimizeAsync(new OptimizeConfig(), [Item()]).WaitAsync(Limit);

        // The re-read waited for the write in flight; the re-send found its reply.
        Assert.Equal(1, server.Applied);
        Assert.Equal(4UL, server.PolicyVersion);
        Assert.Equal(4UL, reply.PolicyVersion);
    }

    [Fact]
    public async Task OptimizeAndUpdate_Retried_EveryAttemptCarriesTheSameFreshRequestId()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        using var client = Client(server, maxAttempts: 5);
        var config = new OptimizeConfig();

        server.FailBeforeApply(1);
        await client.OptimizeAsync(config, [Item()]).WaitAsync(Limit);
        server.FailBeforeApply(1);
        await client.UpdateAsync(new UpdateConfig(), [Group()]).WaitAsync(Limit);

        Assert.Equal(4, server.RequestIds.Count);
        Assert.Equal(server.RequestIds[0], server.RequestIds[1]); // Optimize: failed attempt and its retry
        Assert.Equal(server.RequestIds[2], server.RequestIds[3]); // Update
        Assert.NotEqual(server.RequestIds[0], server.RequestIds[2]); // one id per call
        Assert.All(server.RequestIds, id => Assert.Equal(32, id.Length));
        Assert.Equal("", config.RequestId); // the caller's config is not modified
    }

    [Fact]
    public async Task UpdateAsync_TransientFailureAfterApply_ResentAndGetsTheFirstReply()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        server.FailAfterApply(1);
        using var client = Client(server, maxAttempts: 5);

        UpdateReply reply = await client.UpdateAsync(new UpdateConfig(), [Group()]).WaitAsync(Limit);

        Assert.Equal(1, server.Applied);
        Assert.Equal(8UL, server.RmVersion);
        Assert.Equal(8UL, reply.RmVersion);
    }

    [Fact]
    public async Task OptimizeAsync_TransientFailureBeforeApply_RetriedAndAppliedOnce()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        server.FailBeforeApply(2);
        int retries = 0;
        using var client = Client(server, maxAttempts: 5, onRetry: () => retries++);

        OptimizeReply reply = await client.OptimizeAsync(new OptimizeConfig(), [Item()]).WaitAsync(Limit);

        Assert.Equal(4UL, reply.PolicyVersion);
        Assert.Equal(1, server.Applied);
        Assert.Equal(2, retries);
        // One read before the first attempt, one check before each of the two retries.
        Assert.Equal(3, server.InfoCalls);
    }

    [Fact]
    public async Task UpdateAsync_TransientFailureBeforeApply_RetriedAndAppliedOnce()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        server.FailBeforeApply(1);
        using var client = Client(server, maxAttempts: 3);

        UpdateReply reply = await client.UpdateAsync(new UpdateConfig(), [Group()]).WaitAsync(Limit);

        Assert.Equal(8UL, reply.RmVersion);
        Assert.Equal(1, server.Applied);
        Assert.Equal(2, server.InfoCalls);
    }

    [Fact]
    public async Task OptimizeAsync_SingleAttempt_NoInfoCall()
    {
        await using var server = await FakeWriteServer.StartAsync().WaitAsync(Limit);
        using var client = Client(server, maxAttempts: 1);

        Assert.Equal(4UL, (await client.OptimizeAsync(new OptimizeConfig(), [Item()]).WaitAsync(Limit)).PolicyVersion);
        server.FailAfterApply(1);
        var e = await Assert.ThrowsAsync<R2MClientException>(() => client.UpdateAsync(new UpdateConfig(), [Group()]).WaitAsync(Limit));

        Assert.StartsWith("RewardModel.Update failed after 1 attempt: Unavailable", e.Message);
        Assert.Equal(2, server.Applied);
        Assert.Equal(0, server.InfoCalls);
    }

    [Fact]
    public async Task OptimizeAsync_ServerDownBeforeFirstAttempt_NotSentWithInfoError()
    {
        using var client = new R2MClient(new R2MClientOptions
        {
            Address = $"127.0.0.1:{RetryTests.ClosedPort()}",
            MaxAttempts = 2,
            InitialBackoff = TimeSpan.Zero,
            MaxBackoff = TimeSpan.Zero,
        });

        var e = await Assert.ThrowsAsync<R2MClientException>(() => client.OptimizeAsync(new OptimizeConfig(), [Item()]).WaitAsync(Limit));

        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.StartsWith("Policy.Optimize was not sent: reading policy_version before it failed: Admin.Info failed after 2 attempts", e.Message);
    }

    [Fact]
    public async Task RunAsync_BeforeRetryGivesReason_StopsWithThatReason()
    {
        using var runner = new CallRunner(new R2MClientOptions { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero, MaxAttempts = 5 });
        int calls = 0, checks = 0;
        var e = await Assert.ThrowsAsync<R2MClientException>(() => runner.RunAsync<int>("X", _ =>
        {
            calls++;
            throw new IOException("Connection reset by peer");
        }, default, _ =>
        {
            checks++;
            return Task.FromResult<string?>(checks == 2 ? "it was applied" : null);
        }).WaitAsync(Limit));

        Assert.Equal(2, calls);
        Assert.Equal(2, checks);
        Assert.Equal(2, e.Attempts);
        Assert.Equal("X failed on attempt 2 (Unavailable: Connection reset by peer) and was not sent again: it was applied", e.Message);
    }

    [Fact]
    public async Task RunAsync_NonTransientOrLastAttempt_BeforeRetryNotCalled()
    {
        using var runner = new CallRunner(new R2MClientOptions { InitialBackoff = TimeSpan.Zero, MaxBackoff = TimeSpan.Zero, MaxAttempts = 2 });
        int checks = 0;
        Func<CancellationToken, Task<string?>> check = _ =>
        {
            checks++;
            return Task.FromResult<string?>(null);
        };

        await Assert.ThrowsAsync<R2MClientException>(() => runner.RunAsync<int>("X",
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument, "bad")), default, check).WaitAsync(Limit));
        Assert.Equal(0, checks);
        await Assert.ThrowsAsync<R2MClientException>(() => runner.RunAsync<int>("X",
            _ => throw new RpcException(new Status(StatusCode.Unavailable, "down")), default, check).WaitAsync(Limit));
        Assert.Equal(1, checks); // before the second attempt only, not after the last
    }

    [Theory]
    [InlineData(5UL, 5UL, null)]
    [InlineData(5UL, 6UL, null)] // applied: the re-send (same request_id) gets the first reply
    [InlineData(5UL, 1UL, "the server's policy_version went back from 5 to 1: the server restarted")]
    public void WhyNotResend_VersionComparison_NullUnlessItWentBack(ulong before, ulong now, string? expectedStart)
    {
        string? reason = WatchedVersion.Policy.WhyNotResend(before, now);
        if (expectedStart is null)
        {
            Assert.Null(reason);
        }
        else
        {
            Assert.StartsWith(expectedStart, reason);
        }
    }

    private static R2MClient Client(FakeWriteServer server, int maxAttempts, Action? onRetry = null) => new(new R2MClientOptions
    {
        Address = server.Address,
        MaxAttempts = maxAttempts,
        InitialBackoff = TimeSpan.Zero,
        MaxBackoff = TimeSpan.Zero,
        OnRetry = (_, _, _, _) => onRetry?.Invoke(),
    });

    private static PolicyItem Item() => new() { RolloutId = "ro-1", Advantage = 1 };

    private static PreferenceGroup Group() => new() { GroupId = "g", Members = { new GroupMember { RolloutId = "ro-1" }, new GroupMember { RolloutId = "ro-2" } } };
}
