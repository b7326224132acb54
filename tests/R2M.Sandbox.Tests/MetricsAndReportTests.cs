namespace R2M.Sandbox.Tests;

public sealed class MetricsAndReportTests
{
    [Fact]
    public void Jsonl_WriteThenRead_RoundTripsAndOmitsNulls()
    {
        string path = Path.Combine(Path.GetTempPath(), "r2m-metrics-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            var a = new VariantStepMetrics { Variant = "r2m", Seed = 3, Step = 1, GoldReward = 0.75, ProxyReward = 1.5, BangRate = 0.25, MeanResponseLength = 4.5, Kl = 0.02, RmVersion = 7 };
            var b = a with { Step = 2, Kl = null };
            using (var writer = new MetricsJsonlWriter(path))
            {
                writer.Write(a);
                writer.Write(b);
            }
            string[] lines = File.ReadAllLines(path);
            Assert.Equal(2, lines.Length);
            Assert.Contains("\"goldReward\":0.75", lines[0]);
            Assert.DoesNotContain("\"kl\"", lines[1]);
            Assert.Equal([a, b], MetricsJsonlWriter.ReadAll<VariantStepMetrics>(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Jsonl_NaN_IsRejectedNamingTheRecord()
    {
        string path = Path.Combine(Path.GetTempPath(), "r2m-metrics-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            using var writer = new MetricsJsonlWriter(path);
            var bad = new VariantStepMetrics { Variant = "v", Seed = 1, Step = 0, GoldReward = double.NaN, ProxyReward = 0, BangRate = 0, MeanResponseLength = 0 };
            var e = Assert.Throws<ArgumentException>(() => writer.Write(bad));
            Assert.Contains(nameof(VariantStepMetrics), e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Jsonl_CorruptLine_ErrorNamesFileAndLine()
    {
        string path = Path.Combine(Path.GetTempPath(), "r2m-metrics-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            File.WriteAllLines(path, ["{\"variant\":\"v\",\"seed\":1,\"step\":0,\"goldReward\":0,\"proxyReward\":0,\"bangRate\":0,\"meanResponseLength\":0}", "{oops"]);
            var e = Assert.Throws<InvalidDataException>(() => MetricsJsonlWriter.ReadAll<VariantStepMetrics>(path));
            Assert.Contains(path + ":2", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ResponseStats_Batch_CountsBangsLengthAndGold()
    {
        var p = new SortPrompt([2, 1]);
        ResponseStats s = ResponseStats.Compute([(p, " 1 2"), (p, " 1 2 ! !"), (p, " 2")]);
        Assert.Equal(3, s.Count);
        Assert.Equal((1.0 + 0.5 + 0.5) / 3, s.MeanGold, 12);
        Assert.Equal(1.0 / 3, s.BangRate, 12);
        Assert.Equal(2.0 / 3, s.MeanBangs, 12);
        Assert.Equal((2 + 4 + 1) / 3.0, s.MeanLength, 12);
        Assert.Equal(1.0 / 3, s.ExactRate, 12);
    }

    [Fact]
    public void VariantSummary_FinalSteps_MeansAndStdOverSeeds()
    {
        VariantStepMetrics Step(ulong seed, double gold) => new() { Variant = "v", Seed = seed, Step = 9, GoldReward = gold, ProxyReward = 1, BangRate = 0, MeanResponseLength = 4 };
        VariantSummary s = VariantSummary.FromFinalSteps("v", [Step(1, 0.4), Step(2, 0.6)], rmHeldOutAccuracy: 0.8);
        Assert.Equal(0.5, s.GoldReward, 12);
        Assert.Equal(0.1, s.GoldRewardStd, 12);
        Assert.Null(s.Kl);
        Assert.Equal(0.8, s.RmHeldOutAccuracy);
        Assert.Throws<ArgumentException>(() => VariantSummary.FromFinalSteps("v", []));
    }
}

public sealed class SandboxReportTests
{
    [Fact]
    public void PairAccuracy_Scores_CountsWinsAndHalfTies()
    {
        Assert.Equal(0.375, SandboxReport.PairAccuracy([1, 0, 2, 5], [0, 1, 2, 6]), 12); // (1 + 0 + 0.5 + 0) / 4
        Assert.Equal(1.0, SandboxReport.PairAccuracy([3], [2]));
        Assert.Throws<ArgumentException>(() => SandboxReport.PairAccuracy([1], []));
        var e = Assert.Throws<ArgumentException>(() => SandboxReport.PairAccuracy([1, double.NaN], [0, 0]));
        Assert.Contains("pair 1", e.Message);
    }

    [Fact]
    public void ToMarkdown_Rows_OneLinePerVariantWithDashForMissing()
    {
        var rows = new[]
        {
            new VariantSummary { Variant = "vanilla", Seeds = 2, GoldReward = 0.5, GoldRewardStd = 0.01, ProxyReward = 1.2, ProxyRewardStd = 0.1, BangRate = 0.9, MeanResponseLength = 6.5 },
            new VariantSummary { Variant = "r2m", Seeds = 2, GoldReward = 0.7, GoldRewardStd = 0.02, ProxyReward = 0.8, ProxyRewardStd = 0.1, BangRate = 0.2, MeanResponseLength = 4.2, Kl = 0.0123, RmHeldOutAccuracy = 0.81 },
        };
        string[] lines = SandboxReport.ToMarkdown(rows).TrimEnd().Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("| vanilla | 2 | 0.500 ± 0.010 | 1.200 ± 0.100 | - |", lines[2]);
        Assert.EndsWith("| 0.0123 | 0.20 | 4.20 | 0.810 |", lines[3]);
    }

    [Fact]
    public void ToMarkdown_OneSeed_MeansWithoutPlusMinus()
    {
        var row = new VariantSummary { Variant = "r2m", Seeds = 1, GoldReward = 0.7, GoldRewardStd = 0, ProxyReward = 0.8, ProxyRewardStd = 0, BangRate = 0.2, MeanResponseLength = 4.2 };
        string line = SandboxReport.ToMarkdown([row]).TrimEnd().Split('\n')[2];
        Assert.StartsWith("| r2m | 1 | 0.700 | 0.800 | - |", line);
        Assert.DoesNotContain("±", line);
    }

    [Fact]
    public void FromFinalSteps_StepWithoutGold_ErrorNamesVariant()
    {
        var noGold = new VariantStepMetrics { Variant = "v", Seed = 1, Step = 3, ProxyReward = 1, MeanResponseLength = 4 };
        Assert.Contains("'v'", Assert.Throws<ArgumentException>(() => VariantSummary.FromFinalSteps("v", [noGold])).Message);
    }
}
