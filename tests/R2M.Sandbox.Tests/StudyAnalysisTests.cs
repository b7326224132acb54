namespace R2M.Sandbox.Tests;

/// <summary>The study's analysis against direct formulas on runs made by the test.</summary>
public sealed class StudyAnalysisTests
{
    private static VariantStepMetrics Step(string row, ulong seed, int step, double gold, double? kl = null) => new()
    {
        Variant = row, Seed = seed, Step = step, GoldReward = gold, ProxyReward = 2 * gold, BangRate = 0.5,
        MeanResponseLength = 5, Kl = kl,
    };

    private static StudyRun Run(string row, ulong seed, params double[] gold) =>
        new("spurious", row, seed, gold.Select((g, i) => Step(row, seed, i + 1, g)).ToArray());

    [Fact]
    public void FinalGold_LastWindowOnly_IsTheMeanOfThoseSteps()
    {
        StudyRun run = Run("R2M", 1, 0.9, 0.9, 0.1, 0.3);
        Assert.Equal(0.2, StudyAnalysis.FinalGold(run, 2), 12);
        Assert.Equal(0.55, StudyAnalysis.FinalGold(run, 10), 12); // a window longer than the run takes every step
    }

    [Fact]
    public void WindowMean_NullValuesSkipped_NullWhenNone()
    {
        var steps = new[] { Step("V", 1, 1, 0, kl: 0.5), Step("V", 1, 2, 0, kl: null), Step("V", 1, 3, 0, kl: 0.1) };
        Assert.Equal(0.1, StudyAnalysis.WindowMean(steps, 2, m => m.Kl)!.Value, 12);
        Assert.Null(StudyAnalysis.WindowMean(steps[1..2], 1, m => m.Kl));
    }

    [Fact]
    public void Rows_PairedAgainstVanilla_DifferencesPerSeedAndWins()
    {
        var runs = new List<StudyRun>();
        double[] vanilla = [0.50, 0.60, 0.55];
        double[] r2m = [0.60, 0.65, 0.50];
        for (int s = 0; s < 3; s++)
        {
            runs.Add(Run("VANILLA", (ulong)s + 1, 0, vanilla[s]));
            runs.Add(Run("R2M", (ulong)s + 1, 0, r2m[s]));
        }

        IReadOnlyList<StudyRow> rows = StudyAnalysis.Rows(runs, window: 1);
        Assert.Equal(["VANILLA", "R2M"], rows.Select(r => r.Row));
        Assert.Null(rows[0].VersusVanilla);
        PairedComparison p = rows[1].VersusVanilla!;
        Assert.Equal((0.10 + 0.05 - 0.05) / 3, p.Difference.Mean, 12);
        Assert.Equal(2, p.Wins);
        Assert.Equal(r2m.Average(), rows[1].Gold.Mean, 12);
        Assert.Equal(2 * r2m.Average(), rows[1].Proxy!.Mean, 12);
        // The interval of the mean difference lies within the range of the per-seed differences.
        Assert.InRange(p.Difference.Low, -0.05 - 1e-12, p.Difference.Mean);
        Assert.InRange(p.Difference.High, p.Difference.Mean, 0.10 + 1e-12);
        Assert.Equal(Verdict.WithinNoise, p.Verdict);
    }

    [Fact]
    public void Rows_EverySeedBetter_VerdictBetter()
    {
        var runs = Enumerable.Range(1, 5).SelectMany(s => new[] { Run("VANILLA", (ulong)s, 0.5), Run("R2M", (ulong)s, 0.6 + s * 0.01) }).ToList();
        Assert.Equal(Verdict.Better, StudyAnalysis.Rows(runs, 1)[1].VersusVanilla!.Verdict);
        Assert.Equal(Verdict.Worse, StudyAnalysis.Contrast(runs, "VANILLA", "R2M", 1)!.Verdict);
        Assert.Null(StudyAnalysis.Contrast(runs, "R2M", "R2M_WITH_NOISE", 1));
    }

    [Fact]
    public void Rows_SeedMissingOnOneSide_ErrorNamesTheSeed()
    {
        var runs = new List<StudyRun> { Run("VANILLA", 1, 0.5), Run("VANILLA", 2, 0.5), Run("R2M", 1, 0.6) };
        var e = Assert.Throws<ArgumentException>(() => StudyAnalysis.Rows(runs, 1));
        Assert.Contains("seed(s) 2", e.Message);
    }

    [Fact]
    public void ToMarkdown_OneLinePerRowAndTheMechanismContrasts()
    {
        var runs = Enumerable.Range(1, 3).SelectMany(s => new[]
        {
            Run("VANILLA", (ulong)s, 0.5), Run("R2M", (ulong)s, 0.5 + s * 0.01), Run("R2M_WITH_NOISE", (ulong)s, 0.5),
        }).ToList();
        string md = StudyAnalysis.ToMarkdown(runs, 1);
        string[] lines = md.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Three rows in the primary table, three in the secondary one.
        Assert.Equal(6, lines.Count(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| row", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("| R2M | 3 | 0.520 [", StringComparison.Ordinal) && l.Contains("| 3/3 | better |", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("- R2M - R2M_WITH_NOISE: 0.020 [", StringComparison.Ordinal));
    }

    [Fact]
    public void ToMarkdown_SecondaryTable_WindowMeansOverSeedsAndDashWhereNone()
    {
        // Two seeds of R2M: fused share 0.1, 0.3 (seed 1, steps 1-2) and 0.5, 0.5 (seed 2); window 1 takes the last step:
        // (0.3 + 0.5) / 2 = 0.4. Held-out without feedback 0.6 and 0.8 -> 0.7. VANILLA has no fused share: "-".
        StudyRun R2m(ulong seed, double first, double last, double heldOut) => new("shift", "R2M", seed,
            [Step("R2M", seed, 1, 0.5) with { FusedShare = first, BtLoss = 0.2 }, Step("R2M", seed, 2, 0.5) with { FusedShare = last, BtLoss = 0.4 }],
            HeldOutWithFeedback: 0.9, HeldOutWithoutFeedback: heldOut);
        var runs = new List<StudyRun> { R2m(1, 0.1, 0.3, 0.6), R2m(2, 0.5, 0.5, 0.8), Run("VANILLA", 1, 0.5, 0.5), Run("VANILLA", 2, 0.5, 0.5) };
        string[] lines = StudyAnalysis.ToMarkdown(runs, 1).Split('\n');
        int start = Array.FindIndex(lines, l => l.StartsWith("| row | held-out acc. (no feedback)", StringComparison.Ordinal));
        Assert.True(start > 0);
        Assert.Equal("| R2M | 0.700 | - | 0.400 | 0.400 | - | - |", lines[start + 2]);
        Assert.Equal("| VANILLA | - | - | - | - | - | - |", lines[start + 3]);
    }
}
