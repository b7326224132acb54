namespace R2M.Alignment.Tests;

public sealed class GrebtLossTests
{
    [Fact]
    public void Compute_MatchesTorchAutograd_IncludingK2AndAlphaEnds()
    {
        foreach (var c in TestSupport.Reference.GetProperty("grebt").EnumerateArray())
        {
            var r = c.F("rewards");
            var opts = new GrebtOptions((float)c.N("alpha"), (float)c.N("eps"),
                c.GetProperty("recomputed").GetBoolean() ? PairSelection.RecomputedRewards : PairSelection.AnnotationRewards);
            var d = new float[r.Length];
            var res = GrebtLoss.Compute(r, c.F("annotation"), c.I("k"), opts, d);
            string what = $"K={c.I("k")} alpha={opts.Alpha}";
            TestSupport.Close(res.Loss, c.N("loss"), 1e-4, what + " loss");
            TestSupport.Close(res.BtLoss, c.N("bt"), 1e-4, what + " bt");
            TestSupport.Close(res.GreLoss, c.N("gre"), 1e-4, what + " gre");
            TestSupport.Close(d, c.D("grad"), 1e-4, what + " grad");
        }
    }

    [Fact]
    public void Gradient_PassesFiniteDifferenceCheck()
    {
        var r = new float[] { 0.3f, -1.2f, 2.0f, 0.9f, 0.1f, 0.15f, -0.4f, 1.1f };
        var sel = new float[] { 1, 0, 3, 2, 0, 5, 1, 2 };
        var opts = new GrebtOptions(0.4f);
        var d = new float[r.Length];
        GrebtLoss.Compute(r, sel, 4, opts, d);
        var scratch = new float[r.Length];
        for (int i = 0; i < r.Length; i++)
        {
            const float h = 1e-3f;
            float keep = r[i];
            r[i] = keep + h; double up = GrebtLoss.Compute(r, sel, 4, opts, scratch).Loss;
            r[i] = keep - h; double down = GrebtLoss.Compute(r, sel, 4, opts, scratch).Loss;
            r[i] = keep;
            double fd = (up - down) / (2 * h);
            Assert.True(Math.Abs(fd - d[i]) <= 1e-3 + 1e-2 * Math.Abs(fd), $"r[{i}]: analytic {d[i]} vs FD {fd}");
        }
    }

    [Fact]
    public void Compute_AllEqualGroup_GreGradientExactlyZeroAndEntropyLogK()
    {
        // 0.1f * 3 / 3 does not round-trip: the all-equal branch must not depend on the mean's rounding.
        var r = new float[] { 0.1f, 0.1f, 0.1f };
        var d = new float[3];
        var res = GrebtLoss.Compute(r, new float[] { 0.5f, 0.2f, 0.9f }, 3, new GrebtOptions(Alpha: 1f), d);
        Assert.All(d, v => Assert.Equal(0f, v));
        Assert.Equal((float)Math.Log(3), res.GreLoss);
        Assert.False(float.IsNaN(res.Loss));
    }

    [Fact]
    public void Compute_NoWinnerInSelection_BtTermZeroAndCounted()
    {
        var r = new float[] { 0.4f, -0.2f, 1.0f, 2.0f };
        var d = new float[4];
        var res = GrebtLoss.Compute(r, new float[] { 1, 1, 0, 3 }, 2, new GrebtOptions(Alpha: 0f), d);
        Assert.Equal(1, res.DegenerateGroups);
        Assert.Equal(0f, d[0]);
        Assert.Equal(0f, d[1]);
        Assert.True(d[3] < 0 && d[2] > 0); // winner pushed up, loser down
    }

    [Fact]
    public void Compute_ExtremeRewardGap_StaysFinite()
    {
        var d = new float[2];
        var res = GrebtLoss.Compute(new float[] { -80f, 80f }, new float[] { 1, 0 }, 2, new GrebtOptions(Alpha: 0.3f), d);
        Assert.True(float.IsFinite(res.Loss) && res.BtLoss > 150f);
        Assert.All(d, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Compute_BadInput_ClearErrors()
    {
        var d = new float[3];
        Assert.Contains("K >= 2", Assert.Throws<ArgumentOutOfRangeException>(() => GrebtLoss.Compute(new float[3], new float[3], 1, new GrebtOptions(), d)).Message);
        Assert.Contains("whole groups", Assert.Throws<ArgumentException>(() => GrebtLoss.Compute(new float[3], new float[3], 2, new GrebtOptions(), d)).Message);
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => GrebtLoss.Compute(new[] { 1f, float.NaN, 0f }, new float[3], 3, new GrebtOptions(), d)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => GrebtLoss.Compute(new float[3], new float[3], 3, new GrebtOptions(Alpha: 1.5f), d));
    }
}
