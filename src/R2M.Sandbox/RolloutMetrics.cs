using MathNet.Numerics.Statistics;

namespace R2M.Sandbox;

/// <summary>
/// Per-step metrics of one RL batch, computed from per-rollout arrays laid out group by group (K
/// consecutive items per prompt, as Generate returns them). Pure functions; definitions in
/// docs/sandbox.md "Metrics". Variances and standard deviations are population ones (divide by n).
/// </summary>
public static class RolloutMetrics
{
    /// <summary>A group whose population reward std is below this is degenerate (no contrast for GRPO or GREBT).</summary>
    public const double DegenerateStd = 1e-6;

    /// <summary>
    /// On-policy RM accuracy against gold: over every group and every unordered pair (j, k) of it
    /// whose gold rewards differ, the fraction the RM orders like gold (a reward tie counts 1/2).
    /// Null when no group has two different gold rewards. Score the rollouts as they were scored
    /// for training, or at t = T with policy feedback for the evaluation version.
    /// </summary>
    public static double? OnPolicyAccuracy(IReadOnlyList<double> rewards, IReadOnlyList<double> gold, int groupSize)
    {
        Check(rewards, gold, groupSize);
        double agree = 0;
        long pairs = 0;
        for (int g = 0; g < rewards.Count; g += groupSize)
        {
            for (int j = g; j < g + groupSize; j++)
            {
                for (int k = j + 1; k < g + groupSize; k++)
                {
                    if (gold[j] == gold[k])
                    {
                        continue;
                    }
                    pairs++;
                    double dr = rewards[j] - rewards[k];
                    agree += dr == 0 ? 0.5 : (dr > 0) == (gold[j] > gold[k]) ? 1 : 0;
                }
            }
        }
        return pairs == 0 ? null : agree / pairs;
    }

    /// <summary>Mean over groups of the population std of <paramref name="values"/> within each group.</summary>
    public static double MeanGroupStd(IReadOnlyList<double> values, int groupSize) =>
        Groups(values, groupSize).Average(g => g.PopulationStandardDeviation());

    /// <summary>Share of groups whose population std of <paramref name="rewards"/> is below <paramref name="threshold"/> (default <see cref="DegenerateStd"/>).</summary>
    public static double DegenerateShare(IReadOnlyList<double> rewards, int groupSize, double threshold = DegenerateStd)
    {
        if (!(threshold >= 0)) throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "the threshold must be >= 0");
        return Groups(rewards, groupSize).Average(g => g.PopulationStandardDeviation() < threshold ? 1.0 : 0.0);
    }

    /// <summary>Share of groups whose K gold rewards are all exactly equal (no gold contrast: gold labels pick no pair).</summary>
    public static double GoldTiedShare(IReadOnlyList<double> gold, int groupSize) =>
        Groups(gold, groupSize).Average(g => g.All(x => x == g[0]) ? 1.0 : 0.0);

    /// <summary>
    /// The fused path's share of reward variance over a batch: Var(fused) / Var(total), population
    /// variances over all items, where fused_i = (1 - omega) phi·Ĥ_i and total_i the reward
    /// (R2M.Alignment.R2MHead.ScoreParts). Null when Var(total) is 0. Not bounded by 1: the fused part
    /// can cancel the vanilla part.
    /// </summary>
    public static double? FusedShare(IReadOnlyList<double> fused, IReadOnlyList<double> total)
    {
        Check(fused, total, 1);
        double vt = total.PopulationVariance();
        return vt == 0 ? null : fused.PopulationVariance() / vt;
    }

    /// <summary>
    /// The same share within groups (what GRPO's group-normalised advantages see): sum over groups of
    /// the within-group sum of squares of fused, over the same sum for total. Null when every group's
    /// total rewards are constant.
    /// </summary>
    public static double? FusedShareWithinGroups(IReadOnlyList<double> fused, IReadOnlyList<double> total, int groupSize)
    {
        Check(fused, total, groupSize);
        double ssFused = Groups(fused, groupSize).Sum(g => g.PopulationVariance() * g.Length);
        double ssTotal = Groups(total, groupSize).Sum(g => g.PopulationVariance() * g.Length);
        return ssTotal == 0 ? null : ssFused / ssTotal;
    }

    /// <summary>
    /// All of the above for one step. <paramref name="fused"/> is null when the variant has no
    /// fused path (vanilla, iterative head) or the caller did not split the rewards.
    /// </summary>
    public static RolloutSummary Summarize(IReadOnlyList<double> rewards, IReadOnlyList<double> gold, int groupSize, IReadOnlyList<double>? fused = null) => new(
        OnPolicyAccuracy(rewards, gold, groupSize),
        MeanGroupStd(rewards, groupSize),
        DegenerateShare(rewards, groupSize),
        GoldTiedShare(gold, groupSize),
        fused is null ? null : FusedShare(fused, rewards),
        fused is null ? null : FusedShareWithinGroups(fused, rewards, groupSize));

    private static IEnumerable<double[]> Groups(IReadOnlyList<double> values, int groupSize)
    {
        Check(values, values, groupSize);
        for (int g = 0; g < values.Count; g += groupSize)
        {
            var group = new double[groupSize];
            for (int j = 0; j < groupSize; j++) group[j] = values[g + j];
            yield return group;
        }
    }

    private static void Check(IReadOnlyList<double> a, IReadOnlyList<double> b, int groupSize)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groupSize);
        if (a.Count != b.Count) throw new ArgumentException($"the two arrays have {a.Count} and {b.Count} items");
        if (a.Count == 0 || a.Count % groupSize != 0) throw new ArgumentException($"{a.Count} items do not form whole groups of K = {groupSize}");
        for (int i = 0; i < a.Count; i++)
        {
            if (!double.IsFinite(a[i]) || !double.IsFinite(b[i])) throw new ArgumentException($"item {i} is not finite ({a[i]}, {b[i]})");
        }
    }
}

/// <summary>The rollout metrics of one step (<see cref="RolloutMetrics.Summarize"/>); null where undefined.</summary>
public sealed record RolloutSummary(double? OnPolicyAccuracy, double RewardGroupStd, double DegenerateGroupShare, double GoldTiedGroupShare,
    double? FusedShare, double? FusedShareWithinGroups);
