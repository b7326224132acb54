using R2M.Tensors;

namespace R2M.Alignment.Tests;

/// <summary>The cross-attention init option and the split of a reward into its vanilla and fused paths.</summary>
public sealed class CrossAttentionInitTests
{
    private const int DRm = 48, DP = 64, D = 32;

    private static R2MHead Head(CrossAttentionInit? init, ulong seed = 7)
    {
        var head = new R2MHead(new R2MHeadConfig(DRm, DP, D));
        var phi = R2MHeadTests.Rand(DRm, 11);
        if (init is null) head.Initialize(phi, 0.25f, seed);
        else head.Initialize(phi, 0.25f, seed, init);
        return head;
    }

    [Fact]
    public void Initialize_Default_EachMatrixUniformWithinOneOverSqrtFanIn()
    {
        var head = Head(init: null);
        foreach (var (name, fanIn) in new[] { ("r2m.w_q", DRm), ("r2m.w_k", DP), ("r2m.w_v", DP), ("r2m.w_o", D) })
        {
            var w = head.Layout.View(head.Parameters, name).ToArray();
            double bound = 1 / Math.Sqrt(fanIn);
            Assert.All(w, v => Assert.InRange(v, -bound, bound));
            // U(-b, b): variance b^2 / 3, and the draws reach close to both ends.
            double var = w.Select(v => (double)v * v).Average();
            Assert.InRange(var, 0.9 * bound * bound / 3, 1.1 * bound * bound / 3);
            Assert.True(w.Max() > 0.98 * bound && w.Min() < -0.98 * bound, $"{name} does not span its bound {bound}");
        }
        Assert.Equal(R2MHeadTests.Rand(DRm, 11), head.Layout.View(head.Parameters, "phi.weight").ToArray());
        Assert.Equal(0.25f, head.Parameters[^1]);
    }

    [Fact]
    public void Initialize_InitStd_IsTheLegacyNormalDrawBitForBit()
    {
        var head = new R2MHead(new R2MHeadConfig(DRm, DP, D));
        var phi = R2MHeadTests.Rand(DRm, 11);
        head.Initialize(phi, 0.25f, 7, initStd: 0.02f);
        var expected = new float[head.PhiOffset];
        new Rng(7).FillNormal(expected, 0f, 0.02f); // the pre-issue-15 code path
        Assert.Equal(expected, head.Parameters.AsSpan(0, head.PhiOffset).ToArray());
        Assert.Equal(head.Parameters, Head(CrossAttentionInit.Legacy).Parameters);
    }

    [Fact]
    public void Initialize_ScaleMultipliesTheBoundAndZeroGivesZeroWeights()
    {
        var one = Head(CrossAttentionInit.Default);
        var half = Head(new CrossAttentionInit(CrossAttentionInitKind.LinearDefault, 0.5f));
        for (int i = 0; i < one.PhiOffset; i++) Assert.Equal(one.Parameters[i] * 0.5f, half.Parameters[i], 1e-7f);
        var zero = Head(new CrossAttentionInit(CrossAttentionInitKind.LinearDefault, 0f));
        Assert.All(zero.Parameters.AsSpan(0, zero.PhiOffset).ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Initialize_BadScale_ThrowsNamingTheScale()
    {
        var head = new R2MHead(new R2MHeadConfig(DRm, DP, D));
        var phi = new float[DRm];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => head.Initialize(phi, 0f, 1, new CrossAttentionInit(CrossAttentionInitKind.Normal, -1f)));
        Assert.Equal("Scale", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => head.Initialize(phi, 0f, 1, new CrossAttentionInit(CrossAttentionInitKind.LinearDefault, float.NaN)));
    }

    [Fact]
    public void ScoreParts_SumIsTheRewardAndTheFusedPartIsTheDirectFormula()
    {
        var head = Head(init: null);
        // One feedback row: softmax over one key is 1, so Ĥ = h W_v W_o exactly.
        var rte = R2MHeadTests.Rand(DRm, 21);
        var h = R2MHeadTests.Rand(DP, 22);
        var items = new List<RewardInput> { new(rte, h, 1), new(R2MHeadTests.Rand(DRm, 23), R2MHeadTests.Rand(3 * DP, 24), 3) };
        const float omega = 0.6f;
        var basePart = new float[2];
        var fused = new float[2];
        head.ScoreParts(items, omega, basePart, fused);
        var rewards = new float[2];
        head.Forward(items, omega, rewards);
        for (int i = 0; i < 2; i++) Assert.Equal(rewards[i], basePart[i] + fused[i], 1e-5f);

        var wv = head.Layout.View(head.Parameters, "r2m.w_v").ToArray();
        var wo = head.Layout.View(head.Parameters, "r2m.w_o").ToArray();
        var phi = head.Layout.View(head.Parameters, "phi.weight").ToArray();
        double direct = 0;
        for (int c = 0; c < DRm; c++)
        {
            double hHat = 0;
            for (int j = 0; j < D; j++)
            {
                double v = 0;
                for (int p = 0; p < DP; p++) v += h[p] * wv[p * D + j];
                hHat += v * wo[j * DRm + c];
            }
            direct += phi[c] * hHat;
        }
        Assert.Equal((1 - omega) * direct, fused[0], 1e-5);
        double vanilla = rte.Select((x, c) => (double)x * phi[c]).Sum();
        Assert.Equal(omega * vanilla + 0.25, basePart[0], 1e-5);
    }

    [Fact]
    public void ScoreParts_OmegaOne_FusedIsZeroAndBaseIsTheVanillaScore()
    {
        var head = Head(init: null);
        var items = new List<RewardInput> { new(R2MHeadTests.Rand(DRm, 31), R2MHeadTests.Rand(2 * DP, 32), 2) };
        var basePart = new float[1];
        var fused = new float[1];
        head.ScoreParts(items, 1f, basePart, fused);
        Assert.Equal(0f, fused[0]);
        Assert.Equal(BitConverter.SingleToInt32Bits(head.VanillaScore(items[0].Rte.Span)), BitConverter.SingleToInt32Bits(basePart[0]));
    }
}
