using R2M.Alignment;
using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>The batcher over R2M.Alignment's scoring: a batch the library refuses fails only its bad item.</summary>
public sealed class ScoreBatcherTests
{
    [Fact]
    public async Task Enqueue_BadItemBesideGoodOnes_OnlyTheBadOneFailsAndTheOthersScoreAsAlone()
    {
        await using var server = await TestServer.StartAsync(o => o.ScoreBatchWindowMs = 50);
        var batcher = server.Get<ScoreBatcher>();
        int[] tokens = [1, 23, 27, 26];
        ScoreWork Work(int rows, int values) => new()
        {
            RmTokens = tokens, Hidden = [.. Enumerable.Range(0, values).Select(i => 0.01f * (i % 7))], Rows = rows, Omega = 0.7f,
        };

        var alone = await batcher.EnqueueAsync(Work(3, 3 * TestModels.PolicyWidth)).WaitAsync(TestServer.Timeout);
        // Queued together, so the window puts them in one batch: the library checks the whole batch first.
        var good = Enumerable.Range(0, 3).Select(_ => batcher.EnqueueAsync(Work(3, 3 * TestModels.PolicyWidth))).ToList();
        var bad = batcher.EnqueueAsync(Work(3, (3 * TestModels.PolicyWidth) - 1)); // one value short of rows x D_p

        var e = await Assert.ThrowsAsync<ArgumentException>(() => bad.WaitAsync(TestServer.Timeout));
        Assert.Contains("expected rows 3 x D_p 16", e.Message, StringComparison.Ordinal);
        foreach (var g in good)
        {
            var r = await g.WaitAsync(TestServer.Timeout);
            Assert.Equal(alone.Reward, r.Reward, 1e-6f);
            Assert.Equal(alone.RmVersion, r.RmVersion);
        }
    }
}
