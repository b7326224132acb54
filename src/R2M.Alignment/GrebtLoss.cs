namespace R2M.Alignment;

/// <summary>Which rewards pick the winner and loser of a group (docs/method.md section 3, a choice).</summary>
public enum PairSelection
{
    /// <summary>The annotation-time rewards of step 3 (default).</summary>
    AnnotationRewards,

    /// <summary>The rewards recomputed with the refreshed hidden states.</summary>
    RecomputedRewards,
}

/// <summary>GREBT options.</summary>
/// <param name="Alpha">Mix: (1 - alpha) L_BT + alpha L_GRE. Paper 0.3; 1 = R2M w/o BT, 0 = R2M w/o GRE.</param>
/// <param name="StdEpsilon">Added to the population std before dividing (z-scores).</param>
/// <param name="Selection">Which rewards pick w and l.</param>
public sealed record GrebtOptions(float Alpha = 0.3f, float StdEpsilon = 1e-6f, PairSelection Selection = PairSelection.AnnotationRewards)
{
    public void Validate()
    {
        if (!(Alpha >= 0f && Alpha <= 1f)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "alpha must be in [0, 1]");
        if (!(StdEpsilon > 0f) || !float.IsFinite(StdEpsilon)) throw new ArgumentOutOfRangeException(nameof(StdEpsilon), StdEpsilon, "std epsilon must be positive and finite");
    }
}

/// <summary>Mean losses over the groups of one GREBT evaluation.</summary>
/// <param name="RewardMargin">Mean over groups of r_w - r_l (recomputed rewards of the selected pair; 0 for a group without a winner).</param>
public readonly record struct GrebtResult(float Loss, float BtLoss, float GreLoss, int Groups, int DegenerateGroups, float RewardMargin = 0f);

/// <summary>
/// Group Reward Entropy Bradley-Terry (docs/method.md section 3). Groups are consecutive runs of K
/// rewards. Per group: L_BT = -log sigmoid(r_w - r_l) with w/l the first arg max / arg min of the
/// selection rewards; L_GRE = -sum_j p_j log p_j with p = softmax((r - mean) / (std_pop + eps)).
/// Loss = mean over groups of (1 - alpha) L_BT + alpha L_GRE. Statistics run in double.
/// Edge cases (documented in docs/alignment.md): a group whose selection rewards are all equal has
/// no winner, so its BT term is 0 with zero gradient (counted in DegenerateGroups); a group whose
/// recomputed rewards are all equal has L_GRE = log K and a GRE gradient of exactly zero.
/// </summary>
public static class GrebtLoss
{
    /// <summary>
    /// rewards (G*K): recomputed rewards; selectionRewards (G*K): rewards that choose w/l (pass
    /// rewards again for <see cref="PairSelection.RecomputedRewards"/>); dRewards (G*K): receives
    /// d(loss)/d(rewards) (overwritten).
    /// </summary>
    public static GrebtResult Compute(ReadOnlySpan<float> rewards, ReadOnlySpan<float> selectionRewards, int groupSize, GrebtOptions options, Span<float> dRewards)
    {
        return Compute(rewards, selectionRewards, GroupSizes.Uniform(rewards.Length, groupSize, "a GREBT group"), options, dRewards);
    }

    /// <summary>
    /// As <see cref="Compute(ReadOnlySpan{float}, ReadOnlySpan{float}, int, GrebtOptions, Span{float})"/> for groups of
    /// different sizes: group i is the next groupSizes[i] rewards (each K_i &gt;= 2). The loss is still the plain mean over
    /// groups, each group's L_BT and L_GRE over its own K_i members.
    /// </summary>
    public static GrebtResult Compute(ReadOnlySpan<float> rewards, ReadOnlySpan<float> selectionRewards, ReadOnlySpan<int> groupSizes, GrebtOptions options, Span<float> dRewards)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        GroupSizes.Check(groupSizes, rewards.Length, "a GREBT group");
        var sel = options.Selection == PairSelection.RecomputedRewards ? rewards : selectionRewards;
        if (sel.Length != rewards.Length) throw new ArgumentException($"selection rewards: {sel.Length} values for {rewards.Length} rewards", nameof(selectionRewards));
        if (dRewards.Length != rewards.Length) throw new ArgumentException($"dRewards: {dRewards.Length} slots for {rewards.Length} rewards", nameof(dRewards));
        if (!R2MHead.Finite(rewards)) throw new ArgumentException("rewards contain NaN or Inf", nameof(rewards));
        if (!R2MHead.Finite(sel)) throw new ArgumentException("selection rewards contain NaN or Inf", nameof(selectionRewards));

        int groups = groupSizes.Length, degenerate = 0, o = 0;
        double bt = 0, gre = 0, margin = 0, alpha = options.Alpha, inv = 1.0 / groups;
        int largest = 0;
        foreach (var k in groupSizes) largest = Math.Max(largest, k);
        Span<double> g = largest <= 256 ? stackalloc double[largest] : new double[largest];
        foreach (var k in groupSizes)
        {
            var r = rewards.Slice(o, k);
            var d = dRewards.Slice(o, k);
            d.Clear();
            double btI = BradleyTerry(r, sel.Slice(o, k), out int w, out int l, out double dw);
            if (w < 0) degenerate++;
            else
            {
                d[w] += (float)((1 - alpha) * dw * inv);
                d[l] -= (float)((1 - alpha) * dw * inv);
                margin += (double)r[w] - r[l];
            }
            double greI = GroupEntropy(r, options.StdEpsilon, g);
            for (int j = 0; j < k; j++) d[j] += (float)(alpha * g[j] * inv);
            bt += btI;
            gre += greI;
            o += k;
        }
        bt *= inv;
        gre *= inv;
        return new GrebtResult((float)((1 - alpha) * bt + alpha * gre), (float)bt, (float)gre, groups, degenerate, (float)(margin * inv));
    }

    /// <summary>L_BT of one group and dL/dr_w (dL/dr_l is its negative). w = l = -1 when the group has no winner.</summary>
    internal static double BradleyTerry(ReadOnlySpan<float> r, ReadOnlySpan<float> sel, out int w, out int l, out double dw)
    {
        w = 0; l = 0;
        for (int j = 1; j < sel.Length; j++)
        {
            if (sel[j] > sel[w]) w = j;
            if (sel[j] < sel[l]) l = j;
        }
        if (sel[w] == sel[l]) { w = l = -1; dw = 0; return 0; }
        double delta = (double)r[w] - r[l];
        // -log sigmoid(x) = softplus(-x) = max(-x, 0) + log1p(exp(-|x|)): no overflow for any x.
        double loss = Math.Max(-delta, 0) + Math.Log(1 + Math.Exp(-Math.Abs(delta)));
        dw = -Sigmoid(-delta);
        return loss;
    }

    /// <summary>L_GRE of one group; g (K) receives dL_GRE/dr.</summary>
    internal static double GroupEntropy(ReadOnlySpan<float> r, double eps, Span<double> g)
    {
        int k = r.Length;
        float min = r[0], max = r[0];
        foreach (var v in r) { min = Math.Min(min, v); max = Math.Max(max, v); }
        if (min == max)
        {
            // All equal: z = 0, p uniform, entropy log K; the gradient is exactly zero (each term of
            // the analytic gradient carries a factor r_j - mean = 0). Set it so rounding of the mean
            // cannot leave a 1e-9 residue.
            g[..k].Clear();
            return Math.Log(k);
        }
        double mean = 0;
        foreach (var v in r) mean += v;
        mean /= k;
        double var = 0;
        for (int j = 0; j < k; j++) var += (r[j] - mean) * (r[j] - mean);
        double s = Math.Sqrt(var / k); // population std (divide by K)
        double sigma = s + eps;
        Span<double> z = stackalloc double[k];
        double zmax = double.NegativeInfinity;
        for (int j = 0; j < k; j++) { z[j] = (r[j] - mean) / sigma; zmax = Math.Max(zmax, z[j]); }
        double sum = 0;
        for (int j = 0; j < k; j++) sum += Math.Exp(z[j] - zmax);
        double lse = zmax + Math.Log(sum);
        double h = 0;
        for (int j = 0; j < k; j++) { double lp = z[j] - lse; h -= Math.Exp(lp) * lp; }
        // dH/dz_j = -p_j (log p_j + H)
        double gMean = 0, gDotC = 0;
        for (int j = 0; j < k; j++)
        {
            double lp = z[j] - lse;
            g[j] = -Math.Exp(lp) * (lp + h);
            gMean += g[j];
            gDotC += g[j] * (r[j] - mean);
        }
        gMean /= k;
        // z_j = (r_j - mean) / (s + eps), ds/dr_m = (r_m - mean) / (K s):
        // dL/dr_m = (g_m - mean(g)) / sigma - (sum_j g_j (r_j - mean)) (r_m - mean) / (sigma^2 K s)
        double c2 = gDotC / (sigma * sigma * k * s);
        for (int j = 0; j < k; j++) g[j] = (g[j] - gMean) / sigma - c2 * (r[j] - mean);
        return h;
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
}
