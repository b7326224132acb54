using System.Text.Json;

namespace R2M.Alignment.Tests;

public sealed class R2MHeadTests
{
    private static (R2MHead Head, List<RewardInput> Items) FromReference(JsonElement c)
    {
        var head = new R2MHead(new R2MHeadConfig(c.I("d_rm"), c.I("d_p"), c.I("d"), c.I("heads"), c.GetProperty("phi_bias").GetBoolean()));
        foreach (var (name, key) in new[] { ("r2m.w_q", "w_q"), ("r2m.w_k", "w_k"), ("r2m.w_v", "w_v"), ("r2m.w_o", "w_o"), ("phi.weight", "phi_w") })
            c.F(key).CopyTo(head.Layout.View(head.Parameters, name));
        if (head.Config.PhiBias) head.Parameters[^1] = (float)c.N("phi_b");
        var items = c.GetProperty("items").EnumerateArray()
            .Select(it => new RewardInput(it.F("rte"), it.F("h"), it.I("rows"), it.B("mask"))).ToList();
        return (head, items);
    }

    [Fact]
    public void ForwardBackward_MatchesTorchAutograd_SingleAndMultiHead()
    {
        foreach (var c in TestSupport.Reference.GetProperty("head").EnumerateArray())
        {
            var (head, items) = FromReference(c);
            var rewards = new float[items.Count];
            var acts = head.Forward(items, (float)c.N("omega"), rewards, keepHiddenGrad: true);
            TestSupport.Close(rewards, c.D("rewards"), 1e-4, "rewards");
            head.ZeroGrad();
            head.Backward(acts, c.F("dr"));
            foreach (var (name, key) in new[] { ("r2m.w_q", "g_w_q"), ("r2m.w_k", "g_w_k"), ("r2m.w_v", "g_w_v"), ("r2m.w_o", "g_w_o"), ("phi.weight", "g_phi_w") })
                TestSupport.Close(head.Layout.View(head.Gradients, name), c.D(key), 1e-4, $"heads={head.Config.Heads} {name}");
            if (head.Config.PhiBias) TestSupport.Close(head.Gradients[^1], c.N("g_phi_b"), 1e-4, "phi.bias");
            int i = 0;
            foreach (var it in c.GetProperty("items").EnumerateArray())
                TestSupport.Close(acts.HiddenGradient(i++), it.D("dh"), 1e-4, $"dh item {i - 1}");
        }
    }

    [Fact]
    public void HeadThroughGrebt_MatchesTorchAutograd_GroupsWithPaddingAndKEqualsTwo()
    {
        // The R2M update end to end: rewards from the head, GREBT over groups, gradients of the head's weights.
        foreach (var c in TestSupport.Reference.GetProperty("head_grebt").EnumerateArray())
        {
            var (head, items) = FromReference(c);
            var rewards = new float[items.Count];
            var acts = head.Forward(items, (float)c.N("omega"), rewards);
            var d = new float[items.Count];
            var loss = GrebtLoss.Compute(rewards, c.F("annotation"), c.I("k"), new GrebtOptions((float)c.N("alpha"), (float)c.N("eps")), d);
            string what = $"K={c.I("k")} heads={head.Config.Heads}";
            TestSupport.Close(loss.Loss, c.N("loss"), 1e-4, what + " loss");
            head.ZeroGrad();
            head.Backward(acts, d);
            foreach (var (name, key) in new[] { ("r2m.w_q", "g_w_q"), ("r2m.w_k", "g_w_k"), ("r2m.w_v", "g_w_v"), ("r2m.w_o", "g_w_o"), ("phi.weight", "g_phi_w") })
                TestSupport.Close(head.Layout.View(head.Gradients, name), c.D(key), 1e-4, $"{what} {name}");
            // dL/db = sum_j dL/dr_j = 0: the BT term pushes w and l equally, the GRE gradient is centred.
            // The reference holds that 0 up to float64 rounding; a relative test of a zero is meaningless.
            Assert.True(Math.Abs(c.N("g_phi_b")) < 1e-12 && Math.Abs(head.Gradients[^1]) < 1e-6, $"{what} phi.bias {head.Gradients[^1]} vs {c.N("g_phi_b")}");
        }
    }

    [Fact]
    public void Backward_Accumulates_TwoCallsDoubleTheGradient()
    {
        var c = TestSupport.Reference.GetProperty("head")[0];
        var (head, items) = FromReference(c);
        var r = new float[items.Count];
        var acts = head.Forward(items, 0.7f, r);
        head.ZeroGrad();
        head.Backward(acts, c.F("dr"));
        var once = (float[])head.Gradients.Clone();
        head.Backward(acts, c.F("dr"));
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], head.Gradients[i], 1e-5f * Math.Max(1f, Math.Abs(once[i])));
    }

    [Fact]
    public void Gradients_PassFiniteDifferenceCheck()
    {
        var c = TestSupport.Reference.GetProperty("head")[1];
        var (head, items) = FromReference(c);
        float omega = 0.6f;
        var dr = new float[] { 0.7f, -1.3f };
        var r = new float[items.Count];
        head.ZeroGrad();
        head.Backward(head.Forward(items, omega, r), dr);
        double Loss()
        {
            var rr = new float[items.Count];
            head.Forward(items, omega, rr);
            return rr[0] * (double)dr[0] + rr[1] * (double)dr[1];
        }
        const float h = 1e-2f;
        for (int i = 0; i < head.Parameters.Length; i++)
        {
            float keep = head.Parameters[i];
            head.Parameters[i] = keep + h; double up = Loss();
            head.Parameters[i] = keep - h; double down = Loss();
            head.Parameters[i] = keep;
            double fd = (up - down) / (2 * h);
            Assert.True(Math.Abs(fd - head.Gradients[i]) <= 2e-3 + 1e-2 * Math.Abs(fd), $"param {i}: analytic {head.Gradients[i]} vs FD {fd}");
        }
    }

    [Fact]
    public void Forward_OmegaOne_EqualsVanillaScoreBitForBit()
    {
        var head = TinyHead(out var items, seed: 3);
        float omega0 = OmegaSchedule.Omega(0, 500, 0.6f);
        Assert.Equal(1f, omega0);
        var r = new float[items.Count];
        head.Forward(items, omega0, r);
        for (int i = 0; i < items.Count; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(head.VanillaScore(items[i].Rte.Span)), BitConverter.SingleToInt32Bits(r[i]));
        // ... and below 1 the feedback changes the score.
        head.Forward(items, 0.9f, r);
        Assert.NotEqual(head.VanillaScore(items[0].Rte.Span), r[0]);
    }

    [Fact]
    public void Omega_StartsAtOneAndFloorsAtOmega()
    {
        Assert.Equal(1f, OmegaSchedule.Omega(0, 100, 0.7f));
        Assert.Equal(0.7f, OmegaSchedule.Omega(100, 100, 0.7f));
        Assert.Equal(0.7f, OmegaSchedule.Omega(80, 100, 0.7f)); // 0.5 cos(0.8 pi) + 0.5 = 0.095 < 0.7
        Assert.Equal(0.7f, OmegaSchedule.Omega(1000, 100, 0.7f));
        Assert.Equal((float)(0.5 * Math.Cos(Math.PI * 0.25) + 0.5), OmegaSchedule.Omega(25, 100, 0.7f));
        float prev = 1f;
        for (int t = 0; t <= 100; t++)
        {
            float w = OmegaSchedule.Omega(t, 100, 0.6f);
            Assert.True(w <= prev && w >= 0.6f);
            prev = w;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => OmegaSchedule.Omega(1, 0, 0.6f));
    }

    [Fact]
    public void Forward_SequenceOfLengthOne_AttendsToThatRow()
    {
        var head = TinyHead(out _, seed: 5);
        var rte = Rand(4, 11);
        var h = Rand(3, 12);
        var r = head.Score(new RewardInput(rte, h, 1), 0.5f);
        Assert.True(float.IsFinite(r));
        // One key: softmax weight 1, so Ĥ = (h W_v) W_o regardless of W_k.
        head.Layout.View(head.Parameters, "r2m.w_k").Clear();
        Assert.Equal(r, head.Score(new RewardInput(rte, h, 1), 0.5f), 1e-6f);
    }

    [Fact]
    public void Forward_PaddingRowsDoNotChangeTheScore()
    {
        var head = TinyHead(out _, seed: 6);
        var rte = Rand(4, 1);
        var h = Rand(2 * 3, 2);
        float plain = head.Score(new RewardInput(rte, h, 2), 0.6f);
        var padded = h.Concat(new float[] { 1e30f, -5, 7 }).ToArray();
        float masked = head.Score(new RewardInput(rte, padded, 3, new[] { true, true, false }), 0.6f);
        Assert.Equal(plain, masked, 1e-6f);
    }

    [Fact]
    public void Forward_AllPaddingRows_RejectedWithClearError()
    {
        var head = TinyHead(out _, seed: 7);
        var ex = Assert.Throws<ArgumentException>(() => head.Score(new RewardInput(Rand(4, 1), Rand(6, 2), 2, new[] { false, false }), 0.6f));
        Assert.Contains("every hidden-state row is padding", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => head.Score(new RewardInput(Rand(4, 1), Array.Empty<float>(), 0), 0.6f));
        Assert.Contains("padding", ex.Message);
    }

    [Fact]
    public void Forward_NaNOrInfInHiddenStates_RejectedBeforeTouchingWeights()
    {
        var head = TinyHead(out var items, seed: 8);
        var before = (float[])head.Parameters.Clone();
        var bad = Rand(6, 3);
        bad[4] = float.NaN;
        var batch = new List<RewardInput>(items) { new(Rand(4, 1), bad, 2) };
        var ex = Assert.Throws<ArgumentException>(() => head.Forward(batch, 0.6f, new float[batch.Count]));
        Assert.Contains($"item {items.Count}: hidden states row 1 contains NaN or Inf", ex.Message);
        var rte = Rand(4, 1);
        rte[0] = float.PositiveInfinity;
        ex = Assert.Throws<ArgumentException>(() => head.Score(new RewardInput(rte, Rand(6, 2), 2), 1f));
        Assert.Contains("RTE (H_last) contains NaN or Inf", ex.Message);
        Assert.Equal(before, head.Parameters);
    }

    [Fact]
    public void Forward_WrongShapes_NamedInTheError()
    {
        var head = TinyHead(out _, seed: 9);
        var ex = Assert.Throws<ArgumentException>(() => head.Score(new RewardInput(Rand(5, 1), Rand(6, 2), 2), 0.6f));
        Assert.Contains("expected D_rm = 4", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => head.Score(new RewardInput(Rand(4, 1), Rand(7, 2), 2), 0.6f));
        Assert.Contains("expected rows 2 x D_p 3", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new R2MHead(new R2MHeadConfig(4, 3, 6, Heads: 4)));
    }

    internal static R2MHead TinyHead(out List<RewardInput> items, ulong seed)
    {
        var head = new R2MHead(new R2MHeadConfig(RmDim: 4, PolicyDim: 3, AttnDim: 6, Heads: 2));
        head.Initialize(Rand(4, (int)seed + 100), 0.1f, seed, initStd: 0.5f);
        items = [new(Rand(4, 1), Rand(9, 2), 3), new(Rand(4, 3), Rand(3, 4), 1), new(Rand(4, 5), Rand(12, 6), 4, new[] { true, false, true, true })];
        return head;
    }

    internal static float[] Rand(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }
}
