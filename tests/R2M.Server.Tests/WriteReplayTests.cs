using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>request_id on Optimize/Update: a re-sent call (same id) is not applied twice and gets the first reply.</summary>
public sealed class WriteReplayTests
{
    private static PolicyBatch Batch(List<Rollout> rollouts, string requestId)
    {
        var batch = new PolicyBatch { Config = new OptimizeConfig { Epochs = 1, LearningRate = 1e-2f, RequestId = requestId } };
        batch.Items.AddRange(rollouts.Select((r, i) => new PolicyItem { RolloutId = r.RolloutId, Advantage = i % 2 == 0 ? 1 : -1 }));
        return batch;
    }

    private static IEnumerable<PreferenceGroup> Groups(List<Rollout> rollouts, string requestId) =>
        rollouts.GroupBy(r => r.PromptIndex).Select(g => new PreferenceGroup
        {
            Config = new UpdateConfig { Schedule = TestServer.Schedule(), LearningRate = 0.05f, RequestId = requestId },
            Members = { g.Select(r => new GroupMember { RolloutId = r.RolloutId, AnnotationReward = r.ResponseTokenIds.Count }) },
        });

    [Fact]
    public async Task Optimize_SameRequestIdTwice_AppliedOnceWithTheFirstReply()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 2);
        var start = (await server.InfoAsync()).PolicyVersion;

        var first = await server.OptimizeAsync([Batch(rollouts, "opt-1")]);
        var resent = await server.OptimizeAsync([Batch(rollouts, "opt-1")]);
        var afterResend = (await server.InfoAsync()).PolicyVersion;
        var other = await server.OptimizeAsync([Batch(rollouts, "opt-2")]);

        Assert.Equal(start + 1, first.PolicyVersion);
        Assert.Equal(first, resent); // the remembered reply, stats included
        Assert.Equal(start + 1, afterResend);
        Assert.Equal(start + 2, other.PolicyVersion); // another id is another call
    }

    [Fact]
    public async Task Update_SameRequestIdTwice_AppliedOnceWithTheFirstReply()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        var start = (await server.InfoAsync()).RmVersion;

        var first = await server.UpdateAsync(Groups(rollouts, "upd-1"));
        var resent = await server.UpdateAsync(Groups(rollouts, "upd-1"));
        var unnamed = await server.UpdateAsync(Groups(rollouts, ""));

        Assert.Equal(start + 1, first.RmVersion);
        Assert.Equal(first, resent);
        Assert.Equal(start + 2, unnamed.RmVersion); // no id: no replay protection
    }

    [Fact]
    public async Task Optimize_RequestIdTooLong_InvalidArgumentNamingTheField()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 1, k: 2);

        var e = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([Batch(rollouts, new string('x', 129))]));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("config.request_id", e.Status.Detail, StringComparison.Ordinal);
    }
}
