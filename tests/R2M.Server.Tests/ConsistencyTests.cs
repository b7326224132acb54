using System.Collections.Concurrent;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>16 concurrent Score streams during repeated Updates: every score equals the score of exactly one published rm_version.</summary>
public sealed class ConsistencyTests
{
    [Fact]
    public async Task Score_SixteenStreamsDuringRepeatedUpdates_EachScoreMatchesExactlyOneRmVersion()
    {
        await using var server = await TestServer.StartAsync(o => (o.ScoreBatchWindowMs, o.MetricsPort) = (2, 0));
        var rollouts = await server.GenerateAsync(prompts: 4, k: 4);
        var ids = rollouts.Select(r => r.RolloutId).ToArray();
        // Prime the RTE cache so a rollout's score depends on the head weights only.
        var truth = new ConcurrentDictionary<(string, ulong), float>();
        await ProbeAsync(server, ids, truth);

        var observed = new ConcurrentBag<ScoreReply>();
        using var stop = new CancellationTokenSource();
        var streams = Enumerable.Range(0, 16).Select(s => Task.Run(async () =>
        {
            var round = 0;
            while (!stop.IsCancellationRequested)
            {
                var replies = await server.ScoreAsync(ids.Select(id => TestServer.ById($"{id}#{s}-{round}", id)));
                foreach (var r in replies) observed.Add(r);
                round++;
            }
        })).ToList();

        var versions = new List<ulong> { 1 };
        for (var u = 0; u < 6; u++)
        {
            var groups = rollouts.GroupBy(r => r.PromptIndex).Select(g => new PreferenceGroup
            {
                Config = new UpdateConfig { Schedule = TestServer.Schedule(), LearningRate = 0.05f },
                Members = { g.Select(r => new GroupMember { RolloutId = r.RolloutId }) },
            });
            var reply = await server.UpdateAsync(groups);
            versions.Add(reply.RmVersion);
            // Updates are serialized by this loop, so the probe sees exactly this version.
            await ProbeAsync(server, ids, truth);
        }

        await stop.CancelAsync();
        await Task.WhenAll(streams).WaitAsync(TestServer.Timeout);
        Assert.Equal([1UL, 2, 3, 4, 5, 6, 7], versions);
        Assert.All(observed, r => Assert.Null(r.Error));
        var seen = observed.Select(r => r.RmVersion).Distinct().Count();
        Assert.True(seen >= 2, $"the streams saw only {seen} rm_version(s); expected them to span an update");
        foreach (var r in observed)
        {
            var id = r.ItemId.Split('#')[0];
            Assert.True(truth.TryGetValue((id, r.RmVersion), out var expected), $"no probe for version {r.RmVersion}");
            Assert.Equal(expected, r.Reward);
        }

        // Rewards differ between versions (otherwise the check above proves nothing).
        Assert.NotEqual(truth[(ids[0], 1)], truth[(ids[0], 7)]);

        // Dynamic batching: some backbone batches held more than one item.
        using var http = new HttpClient();
        var metrics = (await http.GetStringAsync($"http://127.0.0.1:{R2MServer.GetMetricsPort(server.App)}/metrics").WaitAsync(TestServer.Timeout)).Split('\n');
        long Value(string prefix) => long.Parse(metrics.Single(l => l.StartsWith(prefix, StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var batches = Value("r2m_score_batch_size_count");
        var single = Value("r2m_score_batch_size_bucket{le=\"1\"}");
        Assert.True(batches > single, $"all {batches} batches held one item");
    }

    private static async Task ProbeAsync(TestServer server, string[] ids, ConcurrentDictionary<(string, ulong), float> truth)
    {
        foreach (var r in await server.ScoreAsync(ids.Select(id => TestServer.ById(id, id))))
        {
            Assert.Null(r.Error);
            truth[(r.ItemId, r.RmVersion)] = r.Reward;
        }
    }
}
