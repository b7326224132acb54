using System.Globalization;
using System.Text;

namespace R2M.Sandbox;

/// <summary>Evaluation and the demo's results table.</summary>
public static class SandboxReport
{
    /// <summary>
    /// Fraction of pairs whose chosen response scored higher than the rejected one; a tie
    /// counts one half (an RM that scores everything equal gets 0.5, chance). Scores are given
    /// in the pairs' order, e.g. from RewardModel.Score at t = T (paper Table 3).
    /// </summary>
    public static double PairAccuracy(IReadOnlyList<double> chosenScores, IReadOnlyList<double> rejectedScores)
    {
        ArgumentNullException.ThrowIfNull(chosenScores);
        ArgumentNullException.ThrowIfNull(rejectedScores);
        if (chosenScores.Count != rejectedScores.Count)
        {
            throw new ArgumentException($"chosenScores has {chosenScores.Count} items but rejectedScores has {rejectedScores.Count}", nameof(rejectedScores));
        }
        if (chosenScores.Count == 0)
        {
            throw new ArgumentException("no pairs to evaluate", nameof(chosenScores));
        }
        double correct = 0;
        for (int i = 0; i < chosenScores.Count; i++)
        {
            double c = chosenScores[i], r = rejectedScores[i];
            if (!double.IsFinite(c) || !double.IsFinite(r))
            {
                throw new ArgumentException($"pair {i} has a non-finite score (chosen {c}, rejected {r})", nameof(chosenScores));
            }
            correct += c > r ? 1 : c == r ? 0.5 : 0;
        }
        return correct / chosenScores.Count;
    }

    /// <summary>
    /// The per-variant results as a Markdown table: gold reward, proxy reward (mean ± std over
    /// seeds; the mean alone for one seed), KL, '!' rate, response length, RM held-out accuracy; "-" where not measured.
    /// </summary>
    public static string ToMarkdown(IEnumerable<VariantSummary> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        sb.AppendLine("| variant | seeds | gold reward | proxy reward | KL | '!' rate | length | RM held-out acc. |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (VariantSummary r in rows)
        {
            // One seed has no spread: "± 0.000" would read as a measured zero std.
            if (r.Seeds > 1)
            {
                sb.Append(CultureInfo.InvariantCulture, $"| {r.Variant} | {r.Seeds} | {r.GoldReward:F3} ± {r.GoldRewardStd:F3} | {r.ProxyReward:F3} ± {r.ProxyRewardStd:F3} | ");
            }
            else
            {
                sb.Append(CultureInfo.InvariantCulture, $"| {r.Variant} | {r.Seeds} | {r.GoldReward:F3} | {r.ProxyReward:F3} | ");
            }
            sb.Append(r.Kl is { } kl ? kl.ToString("F4", CultureInfo.InvariantCulture) : "-").Append(" | ");
            sb.Append(CultureInfo.InvariantCulture, $"{r.BangRate:F2} | {r.MeanResponseLength:F2} | ");
            sb.Append(r.RmHeldOutAccuracy is { } acc ? acc.ToString("F3", CultureInfo.InvariantCulture) : "-").AppendLine(" |");
        }
        return sb.ToString();
    }
}
