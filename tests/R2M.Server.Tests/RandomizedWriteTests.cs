using Grpc.Core;
using Microsoft.Extensions.Time.Testing;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// A seeded run of Updates and Optimizes with injected faults (hook throws mid-step, caller cancels
/// mid-step, deadline passes mid-step, NaN and 1e30 learning rates) while Score streams run against the
/// same server. After every write the served state (weights, moments, steps, noise position, versions)
/// must equal, bit for bit, that of a second server that received exactly the writes that succeeded.
/// </summary>
public sealed class RandomizedWriteTests
{
    private const int Seed = 1313;
    private const int Operations = 40;

    private sealed record Write(bool IsUpdate, List<PreferenceGroup>? Groups, PolicyBatch? Batch, int Steps);

    [Fact]
    public async Task InterleavedWritesWithFaults_ServedStateAlwaysEqualsAReplayOfTheSuccessfulWrites()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var hook = new FaultHook(clock);
        await using var server = await WriteCalls.StartWithHookAsync(hook, clock);
        await using var replay = await TestServer.StartAsync();
        // Inline members and items (tokens, hidden states, old log-probs): the same requests mean the same thing on both servers.
        var rollouts = await server.GenerateAsync(prompts: 4, k: 3, maxNew: 6, hidden: true);
        var rng = new Random(Seed);
        using var stop = new CancellationTokenSource();
        var streams = Enumerable.Range(0, 2).Select(s => Task.Run(() => ScoreLoopAsync(server, rollouts, s, stop.Token))).ToList();
        int ok = 0, failed = 0;
        var statuses = new HashSet<StatusCode>();
        try
        {
            for (var op = 0; op < Operations; op++)
            {
                var fault = rng.Next(8) switch { 0 => Fault.Throw, 1 => Fault.Cancel, 2 => Fault.Deadline, _ => Fault.None };
                var lr = rng.Next(10) switch { 0 => float.NaN, 1 => 1e30f, _ => 0f };
                if (lr != 0f) fault = Fault.None;
                var write = rng.Next(5) < 3 ? UpdateWrite(rng, rollouts, lr) : OptimizeWrite(rng, rollouts, lr);
                hook.Plan(fault, rng.Next(1, write.Steps + 1));
                var before = WriteCalls.Snapshot(server);
                var (reply, status) = await RunAsync(server, hook, clock, write, fault);
                await server.InfoAsync(new InfoRequest { WaitForWrites = true });
                var when = $"operation {op} ({(write.IsUpdate ? "Update" : "Optimize")}, fault {fault}, lr {lr}, status {status})";
                Assert.Equal(Expected(fault, lr), status);
                statuses.Add(status);
                if (status == StatusCode.OK)
                {
                    ok++;
                    var (again, replayStatus) = await RunAsync(replay, null, null, write, Fault.None);
                    Assert.True(replayStatus == StatusCode.OK, $"{when}: the replay failed with {replayStatus}");
                    Assert.Equal(again, reply);
                }
                else
                {
                    failed++;
                    WriteCalls.AssertSame(before, WriteCalls.Snapshot(server), when);
                }

                WriteCalls.AssertSame(WriteCalls.Snapshot(replay), WriteCalls.Snapshot(server), when);
            }
        }
        finally
        {
            await stop.CancelAsync();
        }

        var scored = await Task.WhenAll(streams).WaitAsync(TestServer.Timeout);
        Assert.True(ok >= 10 && failed >= 10, $"{ok} successful and {failed} failed writes: the seed should mix both");
        // Every kind of outcome occurred: success, hook throw, cancellation, deadline, NaN and 1e30 learning rates.
        Assert.Equal(6, statuses.Count);
        Assert.All(scored, n => Assert.True(n > 0, "a Score stream scored nothing"));
    }

    private static StatusCode Expected(Fault fault, float lr) => lr switch
    {
        float.NaN => StatusCode.InvalidArgument,
        1e30f => StatusCode.FailedPrecondition,
        _ => fault switch { Fault.Throw => StatusCode.Internal, Fault.Cancel => StatusCode.Cancelled, Fault.Deadline => StatusCode.DeadlineExceeded, _ => StatusCode.OK },
    };

    private static InlineItem Inline(Rollout r) => new()
    {
        PromptTokenIds = new TokenIds { Ids = { r.PromptTokenIds } }, ResponseTokenIds = new TokenIds { Ids = { r.ResponseTokenIds } },
    };

    private static Write UpdateWrite(Random rng, List<Rollout> rollouts, float lr)
    {
        // A 1e30 step must overflow the attention: full R2M at omega < 1 (phi alone would stay finite).
        var variant = lr != 0f ? VariantConfig.R2M : new[] { VariantConfig.R2M, VariantConfig.R2MWithNoise, VariantConfig.IterativeRmHead, VariantConfig.R2MWithoutBt }[rng.Next(4)];
        var steps = rng.Next(1, 4);
        var config = new UpdateConfig
        {
            Variant = variant, Schedule = TestServer.Schedule((ulong)rng.Next(1, 11), 10), LearningRate = lr == 0f ? 0.05f : lr, Steps = (uint)steps,
            AllowRaggedGroups = true,
        };
        var groups = rollouts.GroupBy(r => r.PromptIndex).Where(_ => rng.Next(3) > 0).Select(g => new PreferenceGroup
        {
            Config = config,
            // Ragged on purpose: a group may drop its last member.
            Members = { g.Take(rng.Next(2, 4)).Select(r => new GroupMember { Inline = Inline(r), HiddenStates = r.HiddenStates, AnnotationReward = (float)rng.NextDouble() }) },
        }).ToList();
        if (groups.Count == 0) groups.Add(new PreferenceGroup { Config = config, Members = { rollouts.Take(3).Select(r => new GroupMember { Inline = Inline(r), HiddenStates = r.HiddenStates, AnnotationReward = r.SampleIndex }) } });
        return new Write(true, groups, null, steps);
    }

    private static Write OptimizeWrite(Random rng, List<Rollout> rollouts, float lr)
    {
        var epochs = rng.Next(1, 3);
        var batch = new PolicyBatch { Config = new OptimizeConfig { Epochs = (uint)epochs, LearningRate = lr == 0f ? 1e-2f : lr, Beta = rng.Next(2) * 0.04f } };
        batch.Items.AddRange(rollouts.Where(_ => rng.Next(2) == 0).DefaultIfEmpty(rollouts[0]).Select(r => new PolicyItem
        {
            Inline = new InlineRollout { PromptTokenIds = { r.PromptTokenIds }, ResponseTokenIds = { r.ResponseTokenIds }, OldLogprobs = { r.Logprobs } },
            Advantage = (float)(rng.NextDouble() - 0.5),
        }));
        return new Write(false, null, batch, epochs); // one minibatch per epoch
    }

    /// <summary>Runs the write, with the planned fault on the faulty server; the reply (null on failure) and the status.</summary>
    private static async Task<(Google.Protobuf.IMessage? Reply, StatusCode Status)> RunAsync(TestServer server, FaultHook? hook, FakeTimeProvider? clock, Write write, Fault fault)
    {
        using var cts = new CancellationTokenSource();
        var options = WriteCalls.Options(server, cts.Token, clock);
        Task<Google.Protobuf.IMessage> call = write.IsUpdate
            ? WriteCalls.UpdateAsync(server, write.Groups!, options).ContinueWith(t => (Google.Protobuf.IMessage)t.Result, TaskScheduler.Default)
            : WriteCalls.OptimizeAsync(server, write.Batch!, options).ContinueWith(t => (Google.Protobuf.IMessage)t.Result, TaskScheduler.Default);
        if (fault == Fault.Cancel)
        {
            await hook!.Reached.WaitAsync(TestServer.Timeout);
            await cts.CancelAsync();
        }

        try
        {
            return (await call.WaitAsync(TestServer.Timeout), StatusCode.OK);
        }
        catch (AggregateException e) when (e.InnerException is RpcException r)
        {
            return (null, r.StatusCode);
        }
        catch (RpcException r)
        {
            return (null, r.StatusCode);
        }
    }

    /// <summary>Scores rollouts inline in a loop until stopped; every reply must be finite, error-free and never older than the one before.</summary>
    private static async Task<int> ScoreLoopAsync(TestServer server, List<Rollout> rollouts, int stream, CancellationToken stop)
    {
        var variants = new[] { VariantConfig.R2M, VariantConfig.R2MWithNoise, VariantConfig.Vanilla };
        ulong last = 0;
        var scored = 0;
        for (var round = 0; !stop.IsCancellationRequested; round++)
        {
            var requests = rollouts.Select((r, i) => new ScoreRequest
            {
                ItemId = $"{stream}-{round}-{i}", Inline = Inline(r), HiddenStates = r.HiddenStates,
                Options = new ScoreOptions { Variant = variants[(i + round) % 3], Schedule = TestServer.Schedule() },
            });
            foreach (var reply in await server.ScoreAsync(requests))
            {
                Assert.Null(reply.Error);
                Assert.True(float.IsFinite(reply.Reward), $"reward {reply.Reward}");
                Assert.True(reply.RmVersion >= last, $"stream {stream}: rm_version {reply.RmVersion} after {last}");
                last = reply.RmVersion;
                scored++;
            }
        }

        return scored;
    }
}
