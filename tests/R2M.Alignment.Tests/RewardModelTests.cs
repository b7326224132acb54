namespace R2M.Alignment.Tests;

/// <summary>R2MRewardModel.Update edge cases: bad feedback never reaches the weights; degenerate groups stay finite.</summary>
public sealed class RewardModelTests
{
    private static R2MRewardModel Model(AlignmentVariant v, int dRm = 4, int dP = 3)
    {
        var head = new R2MHead(new R2MHeadConfig(dRm, dP, AttnDim: 6, Heads: 2));
        head.Initialize(R2MHeadTests.Rand(dRm, 40), 0.1f, seed: 2, initStd: 0.5f);
        return new R2MRewardModel(head, new RewardModelOptions(v, TotalSteps: 10, OmegaFloor: 0.6f, Optimizer: new AdamWOptions(0.05f)));
    }

    private static List<RewardInput> Group(int k, int seed) =>
        [.. Enumerable.Range(0, k).Select(j => new RewardInput(R2MHeadTests.Rand(4, seed + j), R2MHeadTests.Rand(3 * (j + 1), seed + 50 + j), j + 1))];

    [Theory]
    [InlineData(AlignmentVariant.R2M, float.NaN)]
    [InlineData(AlignmentVariant.R2M, float.PositiveInfinity)]
    [InlineData(AlignmentVariant.WithNoise, float.NaN)]
    [InlineData(AlignmentVariant.WithoutBT, float.NegativeInfinity)]
    public void Update_NonFiniteRefreshedHidden_RejectedAndNothingChanges(AlignmentVariant v, float bad)
    {
        var rm = Model(v);
        var items = Group(4, 1);
        rm.Update(items, [0.1f, 0.4f, -0.2f, 0.3f], 4, t: 5); // a real step first, so the moments are non-zero
        var head = (float[])rm.Head.Parameters.Clone();
        var (m, vv, step, noise) = ((float[])rm.Optimizer.M.Clone(), (float[])rm.Optimizer.V.Clone(), rm.Optimizer.Step, rm.NoiseRngState);
        var hidden = items[2].Hidden.ToArray();
        hidden[4] = bad; // row 1 of item 2
        items[2] = items[2] with { Hidden = hidden };
        var ex = Assert.Throws<ArgumentException>(() => rm.Update(items, [0.1f, 0.4f, -0.2f, 0.3f], 4, t: 6));
        Assert.Contains("item 2: hidden states row 1 contains NaN or Inf", ex.Message);
        Assert.Equal(head, rm.Head.Parameters);
        Assert.Equal(m, rm.Optimizer.M);
        Assert.Equal(vv, rm.Optimizer.V);
        Assert.Equal(step, rm.Optimizer.Step);
        Assert.Equal(noise, rm.NoiseRngState); // the noise stream is not advanced by a rejected batch
    }

    [Fact]
    public void Update_AllEqualGroupRewards_GreOnly_ZeroGradientNoNaNWeightsUnchanged()
    {
        // t = 0: omega = 1, so identical RTEs score identically bit for bit; alpha = 1 (R2M w/o BT) leaves
        // only L_GRE, whose gradient at an all-equal group is exactly zero: AdamW then moves nothing.
        var rm = Model(AlignmentVariant.WithoutBT);
        var rte = R2MHeadTests.Rand(4, 9);
        var items = Enumerable.Range(0, 6).Select(j => new RewardInput(rte, R2MHeadTests.Rand(3 * 2, 70 + j), 2)).ToList();
        var before = (float[])rm.Head.Parameters.Clone();
        var res = rm.Update(items, [1f, 2f, 3f, 0f, 5f, 4f], 3, t: 0);
        Assert.True(res.Updated);
        Assert.Equal(0f, res.GradNorm);
        Assert.Equal((float)Math.Log(3), res.Before.GreLoss);
        Assert.False(float.IsNaN(res.Before.Loss));
        Assert.Equal(before, rm.Head.Parameters);
        Assert.All(rm.Optimizer.M, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void Update_KEqualsTwo_TrainsAndStaysFinite()
    {
        var rm = Model(AlignmentVariant.R2M);
        var items = Group(4, 3);
        var before = (float[])rm.Head.Parameters.Clone();
        var res = rm.Update(items, [1f, 0f, 0f, 1f], 2, t: 4);
        Assert.Equal(2, res.Before.Groups);
        Assert.True(float.IsFinite(res.Before.Loss) && res.GradNorm > 0f);
        Assert.NotEqual(before, rm.Head.Parameters);
    }

    [Fact]
    public void Update_WholeGroupsOnly_ClearError()
    {
        var rm = Model(AlignmentVariant.R2M);
        var ex = Assert.Throws<ArgumentException>(() => rm.Update(Group(3, 1), [1f, 2f, 3f], 2, t: 1));
        Assert.Contains("whole groups of K = 2", ex.Message);
    }

    [Fact]
    public void Score_EvaluationAtT_UsesTheFloor()
    {
        var rm = Model(AlignmentVariant.R2M);
        Assert.Equal(1f, rm.OmegaAt(0));
        Assert.Equal(0.6f, rm.OmegaAt(10));
        Assert.Equal(0.6f, rm.OmegaAt(1000));
        var items = Group(2, 5);
        var r = new float[2];
        rm.Score(items, 10, r);
        Assert.Equal(rm.Head.Score(items[0], 0.6f), r[0]);
    }
}
