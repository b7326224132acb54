namespace R2M.Alignment.Tests;

public sealed class PolicyLossTests
{
    private static LossAggregation Agg(string s) => s switch
    {
        "grpo" => LossAggregation.Grpo, "bnpo" => LossAggregation.Bnpo, "dapo" => LossAggregation.Dapo, _ => LossAggregation.DrGrpo,
    };

    [Fact]
    public void Compute_MatchesTorchAutograd_EveryAggregation()
    {
        foreach (var c in TestSupport.Reference.GetProperty("policy").EnumerateArray())
        {
            int b = c.I("b"), t = c.I("t");
            var opts = new PolicyLossOptions((float)c.N("eps"), (float)c.N("eps_high"), (float)c.N("beta"), Agg(c.GetProperty("agg").GetString()!), c.I("max_len"));
            var d = new float[b * t];
            var res = PolicyLoss.Compute(c.F("logp"), c.F("old"), c.F("ref"), c.B("mask"), c.F("adv"), b, t, opts, d);
            TestSupport.Close(res.Loss, c.N("loss"), 1e-4, $"{opts.Aggregation} loss");
            TestSupport.Close(d, c.D("grad"), 1e-4, $"{opts.Aggregation} grad");
            Assert.True(res.ClipFraction > 0, "the reference case is built to clip some tokens");
        }
    }

    [Fact]
    public void Gradient_PassesFiniteDifferenceCheck()
    {
        var c = TestSupport.Reference.GetProperty("policy")[0];
        int b = c.I("b"), t = c.I("t");
        var opts = new PolicyLossOptions(0.2f, 0.28f, 0.04f, LossAggregation.Grpo);
        float[] logp = c.F("logp"), old = c.F("old"), refl = c.F("ref"), adv = c.F("adv");
        bool[] mask = c.B("mask");
        var d = new float[b * t];
        var scratch = new float[b * t];
        PolicyLoss.Compute(logp, old, refl, mask, adv, b, t, opts, d);
        for (int i = 0; i < logp.Length; i++)
        {
            const float h = 1e-3f;
            float keep = logp[i];
            logp[i] = keep + h; double up = PolicyLoss.Compute(logp, old, refl, mask, adv, b, t, opts, scratch).Loss;
            logp[i] = keep - h; double down = PolicyLoss.Compute(logp, old, refl, mask, adv, b, t, opts, scratch).Loss;
            logp[i] = keep;
            double fd = (up - down) / (2 * h);
            // The clip boundary is a kink; the reference case keeps every ratio at least 1e-3 away from it.
            Assert.True(Math.Abs(fd - d[i]) <= 2e-3 + 1e-2 * Math.Abs(fd), $"logp[{i}]: analytic {d[i]} vs FD {fd}");
        }
    }

    [Fact]
    public void Compute_OnPolicyRatioOne_GradientIsMinusAdvantageOverTokens()
    {
        // mu = 1 (docs/method.md section 8): rho = 1 and the gradient is -A / (B |o_i|) under "grpo".
        var logp = new float[] { -1f, -2f, -0.5f, -3f };
        var d = new float[4];
        var res = PolicyLoss.Compute(logp, logp, default, new[] { true, true, true, false }, new[] { 2f, -1f }, 2, 2, new PolicyLossOptions(), d);
        Assert.Equal(new[] { -0.5f, -0.5f, 0.5f, 0f }, d); // seq 0: -2 / (B=2 * 2 tokens); seq 1: 1 / (2 * 1)
        Assert.Equal(-(2f - 1f) / 2f, res.Loss, 1e-6f);
        Assert.Equal(0f, res.ClipFraction);
    }

    [Fact]
    public void Compute_MissingReferenceWithBeta_ClearError()
    {
        var ex = Assert.Throws<ArgumentException>(() => PolicyLoss.Compute(new float[2], new float[2], default, new[] { true, true }, new float[1], 1, 2, new PolicyLossOptions(Beta: 0.1f), new float[2]));
        Assert.Contains("beta > 0 needs reference log-probs", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => PolicyLoss.Compute(new[] { float.NaN, 0f }, new float[2], default, new[] { true, true }, new float[1], 1, 2, new PolicyLossOptions(), new float[2]));
        Assert.Contains("sequence 0, token 0", ex.Message);
    }

    [Fact]
    public void Advantages_MatchTorch_GrpoScalesAndRloo()
    {
        foreach (var c in TestSupport.Reference.GetProperty("advantages").EnumerateArray())
        {
            var r = c.F("rewards");
            int k = c.I("k");
            var a = new float[r.Length];
            void Check(AdvantageOptions o, string key)
            {
                Advantages.Compute(r, k, o, a);
                TestSupport.Close(a, c.D(key), 1e-4, $"K={k} {key}");
            }
            Check(new AdvantageOptions(), "grpo_group_bessel");
            Check(new AdvantageOptions(BesselStd: false), "grpo_group_pop");
            Check(new AdvantageOptions(Scale: AdvantageScale.Batch), "grpo_batch_bessel");
            Check(new AdvantageOptions(Scale: AdvantageScale.None), "grpo_none");
            Check(new AdvantageOptions(AdvantageEstimator.Rloo), "rloo");
        }
    }

    [Fact]
    public void Advantages_AllEqualGroup_ZeroNotNaN()
    {
        var a = new float[3];
        Advantages.Compute(new[] { 0.3f, 0.3f, 0.3f }, 3, new AdvantageOptions(), a);
        Assert.All(a, v => Assert.Equal(0f, v, 1e-6f));
    }
}
