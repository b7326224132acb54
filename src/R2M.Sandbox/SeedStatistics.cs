using MathNet.Numerics.Statistics;
using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>A mean over seeds with a percentile-bootstrap interval.</summary>
/// <param name="Mean">Mean of the per-seed values.</param>
/// <param name="Low">Lower end of the interval (the (1 - level)/2 quantile of the bootstrap means).</param>
/// <param name="High">Upper end (the (1 + level)/2 quantile).</param>
/// <param name="Seeds">Number of seeds (values).</param>
/// <param name="Level">Coverage the interval aims at, e.g. 0.95.</param>
public sealed record BootstrapInterval(double Mean, double Low, double High, int Seeds, double Level)
{
    /// <summary>"0.512 [0.480, 0.544]".</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{Mean:F3} [{Low:F3}, {High:F3}]");
}

/// <summary>Whether a variant beats a baseline on a higher-is-better metric.</summary>
public enum Verdict
{
    /// <summary>The interval of the paired difference lies above 0.</summary>
    Better,

    /// <summary>The interval of the paired difference lies below 0.</summary>
    Worse,

    /// <summary>The interval of the paired difference contains 0.</summary>
    WithinNoise,
}

/// <summary>A variant against a baseline over the same seeds.</summary>
/// <param name="Difference">Mean and bootstrap interval of the per-seed differences (variant - baseline).</param>
/// <param name="Wins">Seeds where the variant's value is larger.</param>
/// <param name="Verdict">From <paramref name="Difference"/>'s interval.</param>
public sealed record PairedComparison(BootstrapInterval Difference, int Wins, Verdict Verdict);

/// <summary>
/// Intervals over seeds (docs/study.md "Analysis"): the percentile bootstrap of the mean (Efron and
/// Tibshirani 1993, ch. 13) and its paired form for a variant against vanilla, where each seed's
/// difference is resampled as one unit (same seed = same sandbox models and prompts, so the
/// differences cancel what the seed shares). Deterministic: the resampling stream is a SplitMix64
/// of <c>seed</c>. Quantiles are MathNet's R-7 definition (linear between order statistics). With
/// 5 seeds the percentile bootstrap is known to under-cover; the win count is reported beside it.
/// </summary>
public static class SeedStatistics
{
    public const int DefaultResamples = 10_000;
    public const double DefaultLevel = 0.95;

    /// <summary>Mean of <paramref name="values"/> (one per seed) with a percentile-bootstrap interval.</summary>
    public static BootstrapInterval Bootstrap(IReadOnlyList<double> values, ulong seed, int resamples = DefaultResamples, double level = DefaultLevel)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0) throw new ArgumentException("no values to bootstrap", nameof(values));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(resamples);
        if (!(level > 0 && level < 1)) throw new ArgumentOutOfRangeException(nameof(level), level, "the level must be in (0, 1)");
        for (int i = 0; i < values.Count; i++)
        {
            if (!double.IsFinite(values[i])) throw new ArgumentException($"value {i} is not finite ({values[i]})", nameof(values));
        }
        var random = SandboxRandom.Derive(seed, SeedStreams.Bootstrap);
        var means = new double[resamples];
        int n = values.Count;
        for (int b = 0; b < resamples; b++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += values[random.NextInt(n)];
            means[b] = sum / n;
        }
        Array.Sort(means);
        double alpha = (1 - level) / 2;
        return new BootstrapInterval(values.Average(),
            SortedArrayStatistics.QuantileCustom(means, alpha, QuantileDefinition.R7),
            SortedArrayStatistics.QuantileCustom(means, 1 - alpha, QuantileDefinition.R7), n, level);
    }

    /// <summary>
    /// Paired comparison on the seeds both runs have: bootstrap of the per-seed differences
    /// variant[s] - baseline[s]. The error names the seeds one side lacks.
    /// </summary>
    public static PairedComparison Paired(IReadOnlyDictionary<ulong, double> variant, IReadOnlyDictionary<ulong, double> baseline, ulong seed,
        int resamples = DefaultResamples, double level = DefaultLevel)
    {
        ArgumentNullException.ThrowIfNull(variant);
        ArgumentNullException.ThrowIfNull(baseline);
        var missing = variant.Keys.Except(baseline.Keys).Concat(baseline.Keys.Except(variant.Keys)).Order().ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"a paired comparison needs the same seeds on both sides; only one side has seed(s) {string.Join(", ", missing)}");
        }
        ulong[] seeds = variant.Keys.Order().ToArray();
        double[] diff = seeds.Select(s => variant[s] - baseline[s]).ToArray();
        BootstrapInterval d = Bootstrap(diff, seed, resamples, level);
        Verdict verdict = d.Low > 0 ? Verdict.Better : d.High < 0 ? Verdict.Worse : Verdict.WithinNoise;
        return new PairedComparison(d, diff.Count(x => x > 0), verdict);
    }
}
