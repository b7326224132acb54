namespace R2M.Sandbox.Tests;

/// <summary>The study's metrics against direct formulas, and the bootstrap against exact enumeration.</summary>
public sealed class StudyMetricsTests
{
    [Fact]
    public void OnPolicyAccuracy_CountsGoldDistinctPairsWithinGroupsOnly()
    {
        // Group 1: gold 0.2 < 0.5 < 1.0, the RM agrees on (0,1), reverses (1,2) and (0,2).
        // Group 2: gold ties (0.5, 0.5) drop out; (0,2) and (1,2): RM ties on one (1/2), right on the other.
        double[] rewards = [1, 2, 0.5, /* g2 */ 3, 1, 3];
        double[] gold = [0.2, 0.5, 1.0, /* g2 */ 0.5, 0.5, 0.8];
        // pairs: g1 (0,1) right, (0,2) wrong, (1,2) wrong; g2 (3,5) tie 1/2, (4,5) right  -> 2.5 / 5
        Assert.Equal(0.5, RolloutMetrics.OnPolicyAccuracy(rewards, gold, 3));
        // Across groups nothing is compared: items 2 and 3 would disagree but are in different groups.
        Assert.Equal(1.0, RolloutMetrics.OnPolicyAccuracy([0, 1, 5, 6], [0.1, 0.9, 0.1, 0.9], 2));
        Assert.Null(RolloutMetrics.OnPolicyAccuracy([1, 2, 3, 4], [0.5, 0.5, 0.7, 0.7], 2));
    }

    [Fact]
    public void GroupStdAndDegenerateShares_MatchTheDirectFormulas()
    {
        double[] r = [1, 3, /* std 1 */ 2, 2, /* std 0 */ 0, 1e-7];
        Assert.Equal((1 + 0 + 0.5e-7) / 3, RolloutMetrics.MeanGroupStd(r, 2), 12);
        // Degenerate: std < 1e-6: the second and third groups.
        Assert.Equal(2.0 / 3, RolloutMetrics.DegenerateShare(r, 2), 12);
        Assert.Equal(1.0 / 3, RolloutMetrics.DegenerateShare(r, 2, threshold: 1e-8), 12);
        Assert.Equal(0.5, RolloutMetrics.GoldTiedShare([0.8, 0.8, 0.8, 0.8, 1, 1, 0.8, 0.8], 4), 12);
        Assert.Throws<ArgumentException>(() => RolloutMetrics.MeanGroupStd([1, 2, 3], 2));
        Assert.Throws<ArgumentException>(() => RolloutMetrics.GoldTiedShare([1, double.NaN], 2));
    }

    [Fact]
    public void FusedShare_IsTheRatioOfPopulationVariances()
    {
        double[] fused = [0.1, -0.1, 0.3, -0.3];
        double[] total = [1, 2, 3, 6];
        double Var(double[] x) => x.Select(v => (v - x.Average()) * (v - x.Average())).Average();
        Assert.Equal(Var(fused) / Var(total), RolloutMetrics.FusedShare(fused, total)!.Value, 12);
        // Within groups of 2: SS_fused = 2 * (0.01 + 0.09) = 0.2, SS_total = 0.5 + 4.5.
        Assert.Equal(0.2 / 5.0, RolloutMetrics.FusedShareWithinGroups(fused, total, 2)!.Value, 12);
        Assert.Null(RolloutMetrics.FusedShare(fused, [2, 2, 2, 2]));
        // The fused path can cancel the vanilla one: the share is not bounded by 1.
        Assert.True(RolloutMetrics.FusedShare([1, -1], [0.1, -0.1]) > 1);
        var s = RolloutMetrics.Summarize(total, [0.1, 0.9, 0.5, 0.5], 2, fused);
        Assert.Equal(RolloutMetrics.FusedShare(fused, total), s.FusedShare);
        Assert.Equal(0.5, s.GoldTiedGroupShare);
        Assert.Null(RolloutMetrics.Summarize(total, [0.1, 0.9, 0.5, 0.5], 2).FusedShare);
    }

    [Fact]
    public void Bootstrap_SmallSample_MatchesTheExactBootstrapDistribution()
    {
        double[] x = [0.0, 0.1, 0.3, 1.0];
        // Exact bootstrap distribution of the mean: all 4^4 equally likely ordered resamples.
        var means = (from a in x from b in x from c in x from d in x select (a + b + c + d) / 4).Order().ToArray();
        BootstrapInterval ci = SeedStatistics.Bootstrap(x, seed: 1, resamples: 200_000);
        Assert.Equal(x.Average(), ci.Mean, 12);
        // The resampled quantile sits at the exact distribution's quantile, give or take one atom.
        AssertNearQuantile(means, 0.025, ci.Low);
        AssertNearQuantile(means, 0.975, ci.High);
        Assert.Equal(4, ci.Seeds);
        Assert.Equal(0.95, ci.Level);
    }

    [Fact]
    public void Bootstrap_DeterministicFromItsSeed_AndDegenerateWhenAllEqual()
    {
        double[] x = Enumerable.Range(0, 20).Select(i => Math.Sin(i * 1.7) * 0.1 + 0.5).ToArray();
        Assert.Equal(SeedStatistics.Bootstrap(x, 7), SeedStatistics.Bootstrap(x, 7));
        Assert.NotEqual(SeedStatistics.Bootstrap(x, 7).Low, SeedStatistics.Bootstrap(x, 8).Low);
        BootstrapInterval ci = SeedStatistics.Bootstrap(x, 7);
        Assert.True(ci.Low < ci.Mean && ci.Mean < ci.High && ci.Low >= x.Min() && ci.High <= x.Max());
        Assert.Equal(new BootstrapInterval(0.3, 0.3, 0.3, 4, 0.95), SeedStatistics.Bootstrap([0.3, 0.3, 0.3, 0.3], 1) with { Mean = 0.3 });
        Assert.Throws<ArgumentException>(() => SeedStatistics.Bootstrap([], 1));
        Assert.Throws<ArgumentException>(() => SeedStatistics.Bootstrap([double.NaN], 1));
    }

    [Fact]
    public void Paired_BootstrapsPerSeedDifferences()
    {
        // The baseline varies a lot across seeds, the variant is always 0.05 above it: the paired
        // interval is the constant difference, although an unpaired comparison would see noise.
        var baseline = new Dictionary<ulong, double> { [1] = 0.3, [2] = 0.7, [3] = 0.5, [4] = 0.9, [5] = 0.4 };
        var better = baseline.ToDictionary(kv => kv.Key, kv => kv.Value + 0.05);
        PairedComparison c = SeedStatistics.Paired(better, baseline, seed: 3);
        Assert.Equal(0.05, c.Difference.Mean, 12);
        Assert.Equal(0.05, c.Difference.Low, 12);
        Assert.Equal(0.05, c.Difference.High, 12);
        Assert.Equal(5, c.Wins);
        Assert.Equal(Verdict.Better, c.Verdict);
        Assert.Equal(Verdict.Worse, SeedStatistics.Paired(baseline, better, 3).Verdict);

        var mixed = new Dictionary<ulong, double> { [1] = 0.35, [2] = 0.65, [3] = 0.55, [4] = 0.85, [5] = 0.45 };
        PairedComparison m = SeedStatistics.Paired(mixed, baseline, 3);
        // Differences +0.05, -0.05, +0.05, -0.05, +0.05: the direct mean, and the interval straddles 0.
        Assert.Equal(0.01, m.Difference.Mean, 12);
        Assert.Equal(Verdict.WithinNoise, m.Verdict);
        Assert.Equal(3, m.Wins);
        var e = Assert.Throws<ArgumentException>(() => SeedStatistics.Paired(new Dictionary<ulong, double> { [1] = 0.1, [9] = 0.2 }, baseline, 3));
        Assert.Contains("2, 3, 4, 5, 9", e.Message);
    }

    /// <summary>The inverse-CDF quantile of the equally weighted atoms, and the actual value within one atom of it.</summary>
    private static void AssertNearQuantile(double[] sortedAtoms, double p, double actual)
    {
        int k = (int)Math.Ceiling(p * sortedAtoms.Length) - 1;
        double lo = sortedAtoms[Math.Max(k - 1, 0)], hi = sortedAtoms[Math.Min(k + 1, sortedAtoms.Length - 1)];
        Assert.InRange(actual, lo, hi);
    }
}
