using R2M.Api.V1;
using CheckpointState = R2M.Alignment.CheckpointState;

namespace R2M.Server.Tests;

/// <summary>
/// R2M w/ Noise (docs/method.md section 4) draws fresh noise on every Score and Update; checkpoints and
/// Reset must put both noise streams where they were, or a resumed (or reset) run draws other noise.
/// </summary>
public sealed class NoiseCheckpointTests
{
    private sealed record Run(string Tokens, float[] Rewards, float BtLoss, float GreLoss, float[] Head, float[] HeadM);

    // Score batches items dynamically, so the same item can be summed in another order (~1e-7);
    // a different noise draw moves a reward by ~1e-4 or more.
    private const float Rounding = 2e-5f;

    private static void AssertSameDraws(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Rounding, $"reward {i}: {expected[i]} vs {actual[i]}");
        }
    }

    /// <summary>Equal up to float rounding: |a - b| <= 1e-4 * max|a| + 1e-7 (another noise draw moves these by far more).</summary>
    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = expected.Max(v => Math.Abs(v));
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= (1e-4f * scale) + 1e-7f, $"{what}[{i}]: {expected[i]} vs {actual[i]}");
        }
    }

    private static void AssertOtherDraws(float[] a, float[] b) =>
        Assert.True(a.Zip(b, (x, y) => Math.Abs(x - y)).Max() > 5 * Rounding, $"[{string.Join(", ", a)}] vs [{string.Join(", ", b)}]");

    /// <summary>Rewards of the noise variant for rollouts (by id), in rollout order.</summary>
    private static async Task<float[]> NoisyScoresAsync(TestServer server, List<Rollout> rollouts)
    {
        var replies = await server.ScoreAsync(rollouts.Select(r => TestServer.ById(r.RolloutId, r.RolloutId, VariantConfig.R2MWithNoise)));
        Assert.All(replies, r => Assert.Null(r.Error));
        var byId = replies.ToDictionary(r => r.ItemId);
        return [.. rollouts.Select(r => byId[r.RolloutId].Reward)];
    }

    /// <summary>Generate (fixed seed), noisy Score, noisy Update, noisy Score, then a checkpoint to read the head and its moments from.</summary>
    private static async Task<Run> NoisyStepAsync(TestServer server, string saveAs)
    {
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        var before = await NoisyScoresAsync(server, rollouts);
        var update = await server.UpdateAsync(rollouts.GroupBy(r => r.PromptIndex).Select(g => new PreferenceGroup
        {
            Config = new UpdateConfig { Variant = VariantConfig.R2MWithNoise, Schedule = TestServer.Schedule(), LearningRate = 0.05f },
            Members = { g.Select(r => new GroupMember { RolloutId = r.RolloutId, AnnotationReward = r.ResponseTokenIds.Count }) },
        }));
        var after = await NoisyScoresAsync(server, rollouts);
        var saved = await server.SaveAsync(new SaveCheckpointRequest { Name = saveAs });
        var state = CheckpointState.Load(Directory.EnumerateFiles(saved.Path, "state.safetensors", SearchOption.AllDirectories).Single());
        var tokens = string.Join(";", rollouts.Select(r => string.Join(",", r.ResponseTokenIds)));
        return new Run(tokens, [.. before, .. after], update.BtLoss, update.GreLoss, state.Tensors["rm.head"], state.Tensors["rm.adamw.m"]);
    }

    [Fact]
    public async Task SaveLoad_NoiseVariant_ContinuationRepeatsRewardsAndWeights()
    {
        await using var server = await TestServer.StartAsync();
        await NoisyStepAsync(server, "warm"); // moves both streams off their startup positions
        await server.SaveAsync(new SaveCheckpointRequest { Name = "noise" });
        var first = await NoisyStepAsync(server, "first");
        await server.LoadAsync(new LoadCheckpointRequest { Name = "noise" });
        var again = await NoisyStepAsync(server, "again");

        Assert.Equal(first.Tokens, again.Tokens); // same policy weights and sampling seed: the same rollouts
        AssertSameDraws(first.Rewards, again.Rewards);
        // The RTEs behind the update come from dynamically batched backbone passes (another padding
        // length sums in another order), so losses and weights agree to float rounding, not bit for bit.
        AssertClose([first.BtLoss, first.GreLoss], [again.BtLoss, again.GreLoss], "loss");
        AssertClose(first.Head, again.Head, "rm.head");
        AssertClose(first.HeadM, again.HeadM, "rm.adamw.m");
        // Control: restored weights but a Score stream one item further on give other rewards, so the equality
        // above rests on the restored stream position.
        await server.LoadAsync(new LoadCheckpointRequest { Name = "noise" });
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        await NoisyScoresAsync(server, rollouts[..1]);
        AssertOtherDraws(first.Rewards[..6], await NoisyScoresAsync(server, rollouts));
    }

    [Fact]
    public async Task Reset_NoiseVariant_ScoresRepeatTheStartupDraws()
    {
        await using var server = await TestServer.StartAsync();
        var probe = new ScoreRequest
        {
            ItemId = "probe",
            Inline = new InlineItem { PromptText = "sort 4 2 =", ResponseText = " 2 4" },
            Options = new ScoreOptions { Variant = VariantConfig.R2MWithNoise, Schedule = TestServer.Schedule() },
            HiddenStates = ScoreInputTests.Hidden(5, TestModels.PolicyWidth, 0.5f),
        };
        var second = probe.Clone();
        second.ItemId = "probe-2";
        async Task<float[]> ScoreBothAsync() => [.. (await server.ScoreAsync([probe, second])).OrderBy(r => r.ItemId, StringComparer.Ordinal).Select(r => r.Reward)];
        var start = await ScoreBothAsync();
        AssertOtherDraws([start[0]], [start[1]]); // each score draws new noise
        await server.ResetAsync(new ResetRequest());
        AssertSameDraws(start, await ScoreBothAsync());
    }
}
