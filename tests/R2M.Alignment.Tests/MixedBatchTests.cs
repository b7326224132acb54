using System.Text.Json;
using R2M.Tensors;

namespace R2M.Alignment.Tests;

/// <summary>
/// What a server needs from one R2M implementation: batches that mix omegas, feedback sources and group
/// sizes, per-group pair selection with a fallback, per-call settings, and finite-or-throw training steps.
/// </summary>
public sealed class MixedBatchTests
{
    private static (R2MRewardModel Model, List<RewardItem> Items, JsonElement Case) MixedReference()
    {
        var c = TestSupport.Reference.GetProperty("head_grebt_mixed")[0];
        var head = new R2MHead(new R2MHeadConfig(c.I("d_rm"), c.I("d_p"), c.I("d"), 1, PhiBias: true));
        foreach (var (name, key) in new[] { ("r2m.w_q", "w_q"), ("r2m.w_k", "w_k"), ("r2m.w_v", "w_v"), ("r2m.w_o", "w_o"), ("phi.weight", "phi_w") })
            c.F(key).CopyTo(head.Layout.View(head.Parameters, name));
        head.Parameters[^1] = (float)c.N("phi_b");
        var omega = (float)c.N("omega");
        var items = c.GetProperty("items").EnumerateArray().Select(it => new RewardItem(new RewardInput(it.F("rte"), it.F("h"), it.I("rows")), omega)).ToList();
        return (new R2MRewardModel(head, new RewardModelOptions(TotalSteps: 10)), items, c);
    }

    private static RewardUpdateOptions Options(float alpha, float lr = 0f, float clip = 0f, int steps = 1, AlignmentVariant v = AlignmentVariant.R2M) =>
        new(VariantSettings.For(v), new GrebtOptions(alpha), lr, clip, steps);

    [Fact]
    public void Update_RaggedGroupsItemsWithoutFeedbackAndSelectionFallback_MatchesTorchAutograd()
    {
        var (rm, items, c) = MixedReference();
        var selection = c.GetProperty("selection").EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Null ? (float?)null : (float)x.GetDouble()).ToList();
        var sizes = c.GetProperty("sizes").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var before = (float[])rm.Head.Parameters.Clone();

        // Learning rate 0 and no clip: one step leaves the weights where they are and the gradients in place.
        var res = rm.Update(new GrebtBatch(items, sizes, selection), Options((float)c.N("alpha")));

        TestSupport.Close(res.Before.Loss, c.N("loss"), 1e-4, "loss");
        TestSupport.Close(res.Before.BtLoss, c.N("bt"), 1e-4, "bt");
        TestSupport.Close(res.Before.GreLoss, c.N("gre"), 1e-4, "gre");
        Assert.Equal(sizes.Length, res.Before.Groups);
        var h = rm.Head;
        foreach (var (name, key) in new[] { ("r2m.w_q", "g_w_q"), ("r2m.w_k", "g_w_k"), ("r2m.w_v", "g_w_v"), ("r2m.w_o", "g_w_o"), ("phi.weight", "g_phi_w") })
            TestSupport.Close(h.Layout.View(h.Gradients, name), c.D(key), 1e-4, name);
        Assert.Equal(before, h.Parameters);
    }

    [Fact]
    public void Score_MixedOmegasAndRows_MatchesTorchAndTheVanillaScoreExactly()
    {
        var (rm, items, c) = MixedReference();
        // A third of the items at another omega: the batch runs one head forward per distinct omega.
        var mixed = items.Select((x, i) => i % 3 == 2 ? x with { Omega = 0.9f } : x).ToList();
        var rewards = new float[items.Count];
        R2MRewardModel.Score(rm.Head, items, new Rng(1), rewards);
        TestSupport.Close(rewards, c.D("rewards"), 1e-4, "rewards");
        R2MRewardModel.Score(rm.Head, mixed, new Rng(1), rewards);
        for (int i = 0; i < items.Count; i++)
        {
            var alone = rm.Head.Score(mixed[i].Input, mixed[i].EffectiveOmega);
            Assert.True(Math.Abs(alone - rewards[i]) <= 1e-5f * Math.Max(1f, Math.Abs(alone)), $"item {i}: {rewards[i]} in the batch, {alone} alone");
            if (mixed[i].Input.Rows == 0) Assert.Equal(rm.Head.VanillaScore(mixed[i].Input.Rte.Span), rewards[i]);
        }
    }

    [Fact]
    public void GrebtLoss_RaggedGroups_IsTheMeanOfEachGroupsOwnLoss()
    {
        float[] r = [0.3f, -1.2f, 2.0f, 0.9f, 0.1f, -0.4f, 1.1f, 0.7f, 0.2f];
        float[] sel = [1, 0, 3, 2, 5, 1, 2, 0, 4];
        int[] sizes = [4, 2, 3];
        var o = new GrebtOptions(0.4f);
        var d = new float[r.Length];
        var all = GrebtLoss.Compute(r, sel, sizes, o, d);
        double loss = 0, margin = 0;
        int start = 0;
        foreach (var k in sizes)
        {
            var dk = new float[k];
            var one = GrebtLoss.Compute(r.AsSpan(start, k), sel.AsSpan(start, k), k, o, dk);
            loss += one.Loss / sizes.Length;
            margin += one.RewardMargin / sizes.Length;
            for (int j = 0; j < k; j++) Assert.Equal(dk[j] / sizes.Length, d[start + j], 6);
            start += k;
        }
        Assert.Equal(loss, all.Loss, 6);
        // Group 0: w = index 2 (sel 3), l = index 1 (sel 0): r 2.0 - (-1.2); group 1: 0.1 - (-0.4); group 2: 0.2 - 0.7.
        Assert.Equal((3.2 + 0.5 - 0.5) / 3, all.RewardMargin, 5);
        Assert.Equal(margin, all.RewardMargin, 6);
    }

    [Fact]
    public void Advantages_RaggedGroups_GroupAndBatchScaleFollowTheFormula()
    {
        float[] r = [1f, 3f, 0f, 2f, 2f, 7f, 5f];
        int[] sizes = [3, 2, 2];
        var group = new float[r.Length];
        var batch = new float[r.Length];
        Advantages.Compute(r, sizes, new AdvantageOptions(), group);
        Advantages.Compute(r, sizes, new AdvantageOptions(Scale: AdvantageScale.Batch), batch);
        double batchStd = Advantages.Std(r, bessel: true);
        int o = 0;
        foreach (var k in sizes)
        {
            var own = new float[k];
            Advantages.Compute(r.AsSpan(o, k), k, new AdvantageOptions(), own);
            double mean = r.Skip(o).Take(k).Average(v => (double)v);
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(own[j], group[o + j]);
                Assert.Equal((r[o + j] - mean) / (batchStd + 1e-4), batch[o + j], 5);
            }
            o += k;
        }
    }

    [Fact]
    public void Update_HugeLearningRate_NonFiniteNamesTheStepAfterTheLast()
    {
        var (rm, items, c) = MixedReference();
        var sizes = c.GetProperty("sizes").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var e = Assert.Throws<NonFiniteTrainingException>(() => rm.Update(new GrebtBatch(items, sizes), Options(0.3f, lr: 1e30f)));
        // One step of 1e30 leaves finite weights near 1e30; scoring the batch with them overflows.
        Assert.Equal(2, e.Step);
        Assert.Contains("after step 1 of 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Update_Steps_NoiseDrawnOnceAfterStepRunsAndCancellationStops()
    {
        var (rm, items, c) = MixedReference();
        var sizes = c.GetProperty("sizes").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        var noisy = items.Select(x => x with { Feedback = FeedbackSource.Noise }).ToList();
        var start = rm.NoiseRngState;
        var seen = new List<int>();
        rm.Update(new GrebtBatch(noisy, sizes), Options(0.3f, lr: 1e-3f, steps: 3, v: AlignmentVariant.WithNoise), seen.Add);
        Assert.Equal([1, 2, 3], seen);
        var afterThree = rm.NoiseRngState;
        rm.NoiseRngState = start;
        rm.Update(new GrebtBatch(noisy, sizes), Options(0.3f, lr: 1e-3f, steps: 1, v: AlignmentVariant.WithNoise));
        Assert.Equal(afterThree, rm.NoiseRngState); // the same draws, however many steps
        Assert.NotEqual(start, afterThree);

        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => rm.Update(new GrebtBatch(items, sizes), Options(0.3f, lr: 1e-3f, steps: 5), s => { if (s == 2) cts.Cancel(); }, cts.Token));
    }

    [Fact]
    public void CopyStateFrom_RewardModelAndPolicy_TakeWeightsMomentsAndNoise()
    {
        var (a, items, c) = MixedReference();
        var (b, _, _) = MixedReference();
        var sizes = c.GetProperty("sizes").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        a.Update(new GrebtBatch(items.Select(x => x with { Feedback = FeedbackSource.Noise }).ToList(), sizes), Options(0.3f, lr: 1e-2f, v: AlignmentVariant.WithNoise));
        b.CopyStateFrom(a);
        Assert.Equal(a.Head.Parameters, b.Head.Parameters);
        Assert.Equal(a.Optimizer.M, b.Optimizer.M);
        Assert.Equal(a.Optimizer.V, b.Optimizer.V);
        Assert.Equal(a.Optimizer.Step, b.Optimizer.Step);
        Assert.Equal(a.NoiseRngState, b.NoiseRngState);

        var p1 = new PolicyOptimizer(new ToyPolicy(6, 4, 3), new PolicyOptimizerOptions(Epochs: 1, Optimizer: new AdamWOptions(0.05f)));
        var p2 = new PolicyOptimizer(new ToyPolicy(6, 4, 9), new PolicyOptimizerOptions(Epochs: 1, Optimizer: new AdamWOptions(0.05f)));
        var (rollouts, adv) = PolicyBatch(p1.Policy);
        p1.Optimize(rollouts, adv, refreshHidden: false);
        p2.CopyStateFrom(p1);
        Assert.Equal(p1.Policy.Parameters.ToArray(), p2.Policy.Parameters.ToArray());
        Assert.Equal(p1.Optimizer.M, p2.Optimizer.M);
        Assert.Equal(p1.Optimizer.Step, p2.Optimizer.Step);
    }

    private static (List<Rollout> Rollouts, float[] Advantages) PolicyBatch(ITrainablePolicy policy)
    {
        var list = new List<Rollout>();
        foreach (var (prompt, i) in new[] { (new[] { 1 }, 0), (new[] { 2 }, 1) })
        {
            var samples = policy.SampleGroup(prompt, 3, 4, 1f, seed: (ulong)(5 + i));
            list.AddRange(samples.Select((s, j) => new Rollout { Id = $"{i}-{j}", Prompt = prompt, Completion = s.Completion, OldLogProbs = s.LogProbs, Hidden = s.Hidden, HiddenRows = s.HiddenRows }));
        }
        return (list, [1f, -1f, 0.5f, -0.5f, 0.25f, -0.25f]);
    }

    [Fact]
    public void PolicyOptimize_PerCallOptions_SameAsAnOptimizerBuiltWithThemAndEpochLossesMatchOneEpochCalls()
    {
        var call = new PolicyOptimizerOptions(Epochs: 2, MiniBatchSize: 4, Optimizer: new AdamWOptions(0.05f), Loss: new PolicyLossOptions(Epsilon: 0.1f));
        var built = new PolicyOptimizer(new ToyPolicy(6, 4, 3), call);
        var general = new PolicyOptimizer(new ToyPolicy(6, 4, 3), new PolicyOptimizerOptions(Optimizer: new AdamWOptions(1e-6f)));
        var stepwise = new PolicyOptimizer(new ToyPolicy(6, 4, 3), call with { Epochs = 1 });
        var (rollouts, adv) = PolicyBatch(built.Policy);
        var a = built.Optimize(rollouts, adv, refreshHidden: false);
        var b = general.Optimize(rollouts, adv, refreshHidden: false, call);
        float[] e = [stepwise.Optimize(rollouts, adv, false).LastEpochLoss, stepwise.Optimize(rollouts, adv, false).LastEpochLoss];
        Assert.Equal(built.Policy.Parameters.ToArray(), general.Policy.Parameters.ToArray());
        Assert.Equal(built.Policy.Parameters.ToArray(), stepwise.Policy.Parameters.ToArray());
        Assert.Equal(a.EpochLosses, b.EpochLosses);
        Assert.Equal(e, a.EpochLosses);
        Assert.Equal(4, general.Optimizer.Step); // 2 epochs x 2 minibatches, moments kept in the optimizer
    }

    [Fact]
    public void PolicyOptimize_HugeLearningRate_NonFiniteNamingTheStep()
    {
        var opt = new PolicyOptimizer(new ToyPolicy(6, 4, 3), new PolicyOptimizerOptions(Epochs: 2));
        var (rollouts, adv) = PolicyBatch(opt.Policy);
        var seen = new List<int>();
        var e = Assert.Throws<NonFiniteTrainingException>(() =>
            opt.Optimize(rollouts, adv, false, new PolicyOptimizerOptions(Epochs: 2, Optimizer: new AdamWOptions(1e30f)), seen.Add));
        Assert.Contains($"step {e.Step}", e.Message, StringComparison.Ordinal);
        Assert.True(e.Step >= 2, $"step {e.Step}: the first step's loss is computed before any update, so it is finite");
        Assert.Equal(Enumerable.Range(1, e.Step - 1), seen);
    }

    [Fact]
    public void MeanK3_IsTheTokenMeanOfTheK3Estimator()
    {
        var rollouts = new List<Rollout>
        {
            new() { Id = "a", Prompt = [1], Completion = [2, 3], OldLogProbs = [-1f, -2f], RefLogProbs = [-1.5f, -1f], Hidden = [], HiddenRows = 0 },
            new() { Id = "b", Prompt = [1], Completion = [4], OldLogProbs = [-0.5f], RefLogProbs = [-0.5f], Hidden = [], HiddenRows = 0 },
        };
        static double K3(double d) => Math.Exp(d) - d - 1;
        Assert.Equal((K3(-0.5) + K3(1) + 0) / 3, PolicyLoss.MeanK3(rollouts), 1e-6); // a float result
    }

    [Fact]
    public void RteCache_GetOrAddMany_ComputesOnlyTheMissingOnesOnce()
    {
        var cache = new RteCache(8);
        var calls = new List<int[]>();
        IReadOnlyList<float[]> Compute(IReadOnlyList<int> missing)
        {
            calls.Add([.. missing]);
            return [.. missing.Select(i => new[] { (float)i })];
        }
        var first = cache.GetOrAddMany(["a", null, "b"], Compute);
        var second = cache.GetOrAddMany(["b", "c", null, "a"], Compute);
        Assert.Equal([[0, 1, 2], [1, 2]], calls);
        Assert.Same(first[2], second[0]);
        Assert.Same(first[0], second[3]);
        Assert.Equal(3, cache.Count); // inline items (null ids) are never cached
        Assert.Equal(2, cache.Hits);
        cache.Clear();
        Assert.Equal(0, cache.Count);
    }
}

/// <summary>The batched RTE pass the server's dynamic batches use, against one sequence at a time.</summary>
public sealed class BatchedRteTests
{
    [Fact]
    public void ComputeRtes_RightPaddedBatch_EqualsEachSequenceAlone()
    {
        var source = new TransformerRteSource(ModelIntegrationTests.RewardBackbone(2));
        int[][] sequences = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10], [3, 3, 3, 3]];
        var batched = source.ComputeRtes(sequences);
        Assert.Equal(sequences.Length, batched.Count);
        for (int i = 0; i < sequences.Length; i++)
        {
            var alone = source.ComputeRte(sequences[i]);
            for (int j = 0; j < alone.Length; j++) Assert.True(Math.Abs(alone[j] - batched[i][j]) <= 1e-5f, $"sequence {i}, element {j}: {batched[i][j]} vs {alone[j]}");
        }
    }
}
