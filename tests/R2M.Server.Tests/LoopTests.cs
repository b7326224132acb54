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
}
