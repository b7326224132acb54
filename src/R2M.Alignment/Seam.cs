namespace R2M.Alignment;

/// <summary>
/// SEAM-style discrepancy (docs/method.md section 7, after Lu et al. arXiv 2406.07971): per group,
/// 1 - Spearman rank correlation between the policy's length-normalised log-likelihood and the
/// reward. 0 = same order, 1 = unrelated, 2 = reversed. Ties get average ranks. A group with fewer
/// than two items, or where either side is constant, has no defined correlation: null, so means
/// over groups skip it instead of counting it as "unrelated".
/// </summary>
public static class Seam
{
    /// <summary>logLikelihood (K): sum of token log-probs; lengths (K): completion tokens; rewards (K).</summary>
    public static double? Discrepancy(ReadOnlySpan<float> logLikelihood, ReadOnlySpan<int> lengths, ReadOnlySpan<float> rewards)
    {
        int k = rewards.Length;
        if (logLikelihood.Length != k || lengths.Length != k)
            throw new ArgumentException($"SEAM needs equal lengths (log-likelihood {logLikelihood.Length}, lengths {lengths.Length}, rewards {k})");
        var norm = new double[k];
        var rw = new double[k];
        for (int j = 0; j < k; j++)
        {
            norm[j] = logLikelihood[j] / (double)Math.Max(lengths[j], 1);
            rw[j] = rewards[j];
        }
        return Discrepancy(norm, rw);
    }

    /// <summary>policyScores (K): already length-normalised log-likelihoods (or any policy score); rewards (K).</summary>
    public static double? Discrepancy(IReadOnlyList<double> policyScores, IReadOnlyList<double> rewards)
    {
        ArgumentNullException.ThrowIfNull(policyScores);
        ArgumentNullException.ThrowIfNull(rewards);
        if (policyScores.Count != rewards.Count)
            throw new ArgumentException($"policyScores has {policyScores.Count} items but rewards has {rewards.Count}", nameof(rewards));
        if (rewards.Count < 2)
            return null;
        double rho = Pearson(Ranks(policyScores), Ranks(rewards));
        return double.IsNaN(rho) ? null : 1 - rho;
    }

    /// <summary>Ranks 1..n with ties given their average rank (Spearman's tie handling).</summary>
    internal static double[] Ranks(IReadOnlyList<double> x)
    {
        var idx = Enumerable.Range(0, x.Count).OrderBy(i => x[i]).ToArray();
        var ranks = new double[x.Count];
        for (int i = 0; i < idx.Length;)
        {
            int j = i;
            while (j + 1 < idx.Length && x[idx[j + 1]] == x[idx[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int m = i; m <= j; m++) ranks[idx[m]] = avg;
            i = j + 1;
        }
        return ranks;
    }

    private static double Pearson(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Length; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return saa == 0 || sbb == 0 ? double.NaN : sab / Math.Sqrt(saa * sbb);
    }
}
