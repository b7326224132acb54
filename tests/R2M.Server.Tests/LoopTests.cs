using R2M.Api.V1;

namespace R2M.Server.Tests;

public sealed class LoopTests
{
    [Fact]
    public async Task FullLoop_GenerateScoreOptimizeUpdate_VersionsAdvance()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        Assert.Equal(6, rollouts.Count);
        Assert.All(rollouts, r => Assert.Equal((ulong)1, r.PolicyVersion));
        var replies = await server.ScoreAsync(rollouts.Select(r => TestServer.ById(r.RolloutId, r.RolloutId)));
        Assert.Equal(6, replies.Count);
        Assert.All(replies, r => Assert.Null(r.Error));
        Assert.All(replies, r => Assert.Equal((ulong)1, r.RmVersion));
        Assert.All(replies, r => Assert.True(float.IsFinite(r.Reward)));

        var batch = new PolicyBatch { Config = new OptimizeConfig { LearningRate = 1e-3f, Epochs = 2 } };
        foreach (var r in rollouts)
        {
            batch.Items.Add(new PolicyItem { RolloutId = r.RolloutId, GroupId = $"p{r.PromptIndex}", Reward = replies.Single(x => x.ItemId == r.RolloutId).Reward });
        }

        var opt = await server.OptimizeAsync([batch]);
        Assert.Equal((ulong)2, opt.PolicyVersion);
        Assert.True(opt.HiddenStatesRefreshed);
        Assert.Equal((uint)6, opt.Items);
        Assert.Equal(2, opt.EpochLosses.Count);
        Assert.Equal(opt.EpochLosses[1], opt.PolicyLoss);
        Assert.True(opt.Kl >= 0 && float.IsFinite(opt.Kl));

        var groups = rollouts.GroupBy(r => r.PromptIndex).Select(g =>
        {
            var pg = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule(), LearningRate = 1e-2f }, GroupId = $"p{g.Key}" };
            pg.Members.AddRange(g.Select(r => new GroupMember { RolloutId = r.RolloutId }));
            return pg;
        });
        var upd = await server.UpdateAsync(groups);
        Assert.Equal((ulong)2, upd.RmVersion);
        Assert.Equal((uint)2, upd.Groups);
        Assert.True(float.IsFinite(upd.BtLoss) && float.IsFinite(upd.GreLoss));

        var after = await server.ScoreAsync(rollouts.Select(r => TestServer.ById(r.RolloutId, r.RolloutId)));
        Assert.All(after, r => Assert.Equal((ulong)2, r.RmVersion));
        var info = await server.InfoAsync();
        Assert.Equal((ulong)2, info.PolicyVersion);
        Assert.Equal((uint)TestModels.PolicyWidth, info.RewardHead.FeedbackWidth);
    }

    [Fact]
    public async Task Variants_ScoreAndUpdateFollowTheVariantTable()
    {
        await using var server = await TestServer.StartAsync();
        var rollouts = await server.GenerateAsync(prompts: 1, k: 3);
        var id = rollouts[0].RolloutId;
        var scores = (await server.ScoreAsync(
        [
            TestServer.ById("r2m", id),
            TestServer.ById("noise", id, VariantConfig.R2MWithNoise),
            TestServer.ById("vanilla", id, VariantConfig.Vanilla),
            TestServer.ById("iter", id, VariantConfig.IterativeRmHead),
        ])).ToDictionary(r => r.ItemId);
        Assert.All(scores.Values, r => Assert.Null(r.Error));
        Assert.NotEqual(scores["r2m"].Reward, scores["noise"].Reward);
        Assert.Equal(1f, scores["vanilla"].Omega);
        Assert.Equal(scores["vanilla"].VanillaReward, scores["vanilla"].Reward);
        Assert.Equal(scores["r2m"].VanillaReward, scores["iter"].Reward);

        PreferenceGroup Group(VariantConfig v) => new()
        {
            Config = new UpdateConfig { Variant = v, Schedule = TestServer.Schedule(), Alpha = 0.5f },
            Members = { rollouts.Select(r => new GroupMember { RolloutId = r.RolloutId }) },
        };
        Assert.Equal(1f, (await server.UpdateAsync([Group(VariantConfig.R2MWithoutBt)])).Alpha);
        Assert.Equal(0f, (await server.UpdateAsync([Group(VariantConfig.R2MWithoutGre)])).Alpha);
        Assert.Equal(0.5f, (await server.UpdateAsync([Group(VariantConfig.R2MWithNoise)])).Alpha);
        Assert.Equal(1f, (await server.UpdateAsync([Group(VariantConfig.IterativeRmHead)])).Omega);
        foreach (var refused in new[] { VariantConfig.R2MWithoutTrain, VariantConfig.PretrainedRm, VariantConfig.Vanilla })
        {
            var e = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => server.UpdateAsync([Group(refused)]));
            Assert.Equal(Grpc.Core.StatusCode.FailedPrecondition, e.StatusCode);
        }

        Assert.Equal((ulong)5, (await server.InfoAsync()).RmVersion);
    }
}
