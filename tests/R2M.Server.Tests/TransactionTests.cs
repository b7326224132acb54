using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Time.Testing;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// Update and Optimize are all-or-nothing: a write that is cancelled, loses its caller, passes its
/// deadline, fails or goes non-finite leaves the served weights and the next write's starting point as
/// they were; checkpoints save the served snapshot. Each case compares with a fresh server that never saw
/// the failed write.
/// </summary>
public sealed class TransactionTests
{
    private static IEnumerable<PreferenceGroup> Groups(List<Rollout> rollouts, string requestId = "", float lr = 0.05f, uint steps = 1) =>
        rollouts.GroupBy(r => r.PromptIndex).Select(g => new PreferenceGroup
        {
            Config = new UpdateConfig { Schedule = TestServer.Schedule(), LearningRate = lr, RequestId = requestId, Steps = steps },
            Members = { g.Select(r => new GroupMember { RolloutId = r.RolloutId, AnnotationReward = r.ResponseTokenIds.Count + (r.SampleIndex * 0.1f) }) },
        });

    private static PolicyBatch Batch(List<Rollout> rollouts, string requestId = "", float lr = 1e-2f, uint epochs = 2)
    {
        var batch = new PolicyBatch { Config = new OptimizeConfig { Epochs = epochs, LearningRate = lr, RequestId = requestId } };
        batch.Items.AddRange(rollouts.Select((r, i) => new PolicyItem { RolloutId = r.RolloutId, Advantage = i % 2 == 0 ? 1 : -1 }));
        return batch;
    }

    private static ScoreRequest Probe() => new()
    {
        ItemId = "probe",
        Inline = new InlineItem { PromptText = "sort 4 2 =", ResponseText = " 2 4" },
        Options = new ScoreOptions { Schedule = TestServer.Schedule(8, 10) },
        HiddenStates = ScoreInputTests.Hidden(5, TestModels.PolicyWidth, 0.5f),
    };

    private static async Task<float> ProbeAsync(TestServer server)
    {
        var reply = (await server.ScoreAsync([Probe()])).Single();
        Assert.Null(reply.Error);
        Assert.True(float.IsFinite(reply.Reward), $"probe reward {reply.Reward}");
        return reply.Reward;
    }

    private static async Task<(string Tokens, float[] Logprobs)> GreedyAsync(TestServer server)
    {
        var request = new GenerateRequest { Prompts = { new Prompt { Text = "sort 5 1 =" } }, Sampling = new SamplingParams { Temperature = 0, MaxNewTokens = 8 } };
        var r = (await server.GenerateAsync(request)).Single();
        Assert.All(r.Logprobs, lp => Assert.True(float.IsFinite(lp), $"log-prob {lp}"));
        return (string.Join(",", r.ResponseTokenIds), [.. r.Logprobs]);
    }

    [Fact]
    public async Task Update_CallerDisconnectsMidStepThenResends_AbortedCleanlyAndAppliedOnceFromTheSameStart()
    {
        var hook = new FaultHook();
        await using var server = await WriteCalls.StartWithHookAsync(hook);
        await using var fresh = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        var same = await fresh.GenerateAsync(prompts: 2, k: 3);
        var before = WriteCalls.Snapshot(server);

        // A caller on its own connection goes away after the second of four GREBT steps.
        hook.Plan(Fault.Cancel, step: 2);
        var channel = GrpcChannel.ForAddress(server.Address);
        var call = new RewardModel.RewardModelClient(channel).Update(deadline: DateTime.UtcNow + TestServer.Timeout);
        foreach (var g in Groups(rollouts, "u-1", steps: 4)) await call.RequestStream.WriteAsync(g).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        await hook.Reached.WaitAsync(TestServer.Timeout);
        channel.Dispose();
        await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(TestServer.Timeout));
        await server.InfoAsync(new InfoRequest { WaitForWrites = true });
        WriteCalls.AssertSame(before, WriteCalls.Snapshot(server), "after the aborted Update");

        // The re-send trains from the untouched start, exactly as a server that never saw the first attempt.
        var resent = await server.UpdateAsync(Groups(rollouts, "u-1", steps: 4));
        var expected = await fresh.UpdateAsync(Groups(same, "u-1", steps: 4));
        Assert.Equal(expected, resent);
        WriteCalls.AssertSame(WriteCalls.Snapshot(fresh), WriteCalls.Snapshot(server), "after the re-send");
        Assert.Equal(resent, await server.UpdateAsync(Groups(rollouts, "u-1", steps: 4))); // applied once
        Assert.Equal(2UL, (await server.InfoAsync()).RmVersion);
    }

    [Fact]
    public async Task Update_HugeLearningRateThenValidUpdate_RefusedNamingTheStepAndTheNextTrainsFromTheUntouchedHead()
    {
        await using var server = await TestServer.StartAsync();
        await using var fresh = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        var same = await fresh.GenerateAsync(prompts: 2, k: 3);

        var e = await Assert.ThrowsAsync<RpcException>(() => server.UpdateAsync(Groups(rollouts, lr: 1e30f)));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("step 1 of 1", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("nothing was applied", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(1UL, (await server.InfoAsync()).RmVersion);

        var valid = await server.UpdateAsync(Groups(rollouts));
        Assert.Equal(await fresh.UpdateAsync(Groups(same)), valid);
        WriteCalls.AssertSame(WriteCalls.Snapshot(fresh), WriteCalls.Snapshot(server), "after the valid Update");
    }

    [Theory]
    [InlineData(Fault.None)] // learning rate 1e30: non-finite after the step
    [InlineData(Fault.Throw)] // a failure in the middle of the second of three steps
    public async Task SaveLoad_AfterFailedUpdate_ServesTheHeadFromBeforeTheFailure(Fault fault)
    {
        var hook = new FaultHook();
        await using var server = await WriteCalls.StartWithHookAsync(hook);
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        await server.UpdateAsync(Groups(rollouts)); // a trained head, not the startup one
        var probe = await ProbeAsync(server);

        hook.Plan(fault, step: 2);
        var e = await Assert.ThrowsAsync<RpcException>(() => server.UpdateAsync(Groups(rollouts, lr: fault == Fault.None ? 1e30f : 0.05f, steps: 3)));
        Assert.Equal(fault == Fault.None ? StatusCode.FailedPrecondition : StatusCode.Internal, e.StatusCode);
        Assert.Equal(probe, await ProbeAsync(server));
        await server.SaveAsync(new SaveCheckpointRequest { Name = "after-failure" });
        await server.ResetAsync(new ResetRequest());
        await server.LoadAsync(new LoadCheckpointRequest { Name = "after-failure" });
        Assert.Equal(probe, await ProbeAsync(server));
    }

    [Fact]
    public async Task SaveLoad_AfterNonFiniteOptimize_GenerateAndScoreAsBeforeTheFailure()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 2);
        await server.OptimizeAsync([Batch(rollouts)]); // trained weights and moments, not the startup ones
        var (greedy, probe, version) = (await GreedyAsync(server), await ProbeAsync(server), (await server.InfoAsync()).PolicyVersion);

        rollouts = await server.GenerateAsync(prompts: 2, k: 2);
        var e = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([Batch(rollouts, lr: 1e30f)]));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("step 2 of 2", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(version, (await server.InfoAsync()).PolicyVersion);
        await server.SaveAsync(new SaveCheckpointRequest { Name = "after-failure" });
        await server.ResetAsync(new ResetRequest());
        await server.LoadAsync(new LoadCheckpointRequest { Name = "after-failure" });
        var after = await GreedyAsync(server);
        Assert.Equal(greedy.Tokens, after.Tokens);
        Assert.Equal(greedy.Logprobs, after.Logprobs);
        Assert.Equal(probe, await ProbeAsync(server));
    }

    [Fact]
    public async Task Optimize_ClientCancelsMidStepThenResends_AppliedOnceFromTheSameStart()
    {
        var hook = new FaultHook();
        await using var server = await WriteCalls.StartWithHookAsync(hook);
        await using var fresh = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 2);
        var same = await fresh.GenerateAsync(prompts: 2, k: 2);
        var before = WriteCalls.Snapshot(server);

        hook.Plan(Fault.Cancel, step: 1);
        using var cts = new CancellationTokenSource();
        var first = WriteCalls.OptimizeAsync(server, Batch(rollouts, "o-1"), WriteCalls.Options(server, cts.Token, null));
        await hook.Reached.WaitAsync(TestServer.Timeout);
        await cts.CancelAsync();
        var e = await Assert.ThrowsAsync<RpcException>(() => first);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        await server.InfoAsync(new InfoRequest { WaitForWrites = true });
        WriteCalls.AssertSame(before, WriteCalls.Snapshot(server), "after the cancelled Optimize");

        var resent = await server.OptimizeAsync([Batch(rollouts, "o-1")]);
        Assert.Equal(await fresh.OptimizeAsync([Batch(same, "o-1")]), resent);
        WriteCalls.AssertSame(WriteCalls.Snapshot(fresh), WriteCalls.Snapshot(server), "after the re-send");
        Assert.Equal(resent, await server.OptimizeAsync([Batch(rollouts, "o-1")]));
    }

    [Fact]
    public async Task Optimize_DeadlinePassesMidStep_DeadlineExceededAndNothingApplied()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var hook = new FaultHook(clock);
        await using var server = await WriteCalls.StartWithHookAsync(hook, clock);
        var rollouts = await server.GenerateAsync(prompts: 2, k: 2);
        var before = WriteCalls.Snapshot(server);

        // The server's clock passes the call's deadline (one hour away) after the first of two steps.
        hook.Plan(Fault.Deadline, step: 1);
        var e = await Assert.ThrowsAsync<RpcException>(() => WriteCalls.OptimizeAsync(server, Batch(rollouts), WriteCalls.Options(server, default, clock)));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.Contains("nothing was applied", e.Status.Detail, StringComparison.Ordinal);
        WriteCalls.AssertSame(before, WriteCalls.Snapshot(server), "after the timed-out Optimize");
        Assert.Equal([("Optimize", 1)], hook.Seen);
    }
}
