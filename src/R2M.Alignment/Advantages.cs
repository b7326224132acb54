namespace R2M.Alignment;

/// <summary>Group-relative advantage estimator (docs/method.md section 1 step 4).</summary>
public enum AdvantageEstimator
{
    /// <summary>A = (r - mean_group) / (std + eps), scaled per <see cref="AdvantageScale"/>.</summary>
    Grpo,

    /// <summary>A_j = r_j - mean_{j' != j} r_j' (leave-one-out baseline).</summary>
    Rloo,
}

/// <summary>Which std divides GRPO advantages (TRL scale_rewards).</summary>
public enum AdvantageScale
{
    /// <summary>Each group's own std (TRL default).</summary>
    Group,

    /// <summary>One std over the whole batch of rewards.</summary>
    Batch,

    /// <summary>No division (Dr. GRPO).</summary>
    None,
}

/// <summary>Advantage options.</summary>
/// <param name="BesselStd">true: std divides by K - 1 as TRL does (torch.std default); false: population std (divide by K).</param>
/// <param name="Epsilon">Added to the std (TRL: 1e-4).</param>
public sealed record AdvantageOptions(
    AdvantageEstimator Estimator = AdvantageEstimator.Grpo,
    AdvantageScale Scale = AdvantageScale.Group,
    bool BesselStd = true,
    float Epsilon = 1e-4f);

/// <summary>Computes per-response advantages from rewards laid out as consecutive groups of K.</summary>
public static class Advantages
{
    /// <summary>rewards (G*K) -> advantages (G*K). Statistics in double.</summary>
    public static void Compute(ReadOnlySpan<float> rewards, int groupSize, AdvantageOptions options, Span<float> advantages)
    {
        Compute(rewards, GroupSizes.Uniform(rewards.Length, groupSize, "a group advantage"), options, advantages);
    }

    /// <summary>
    /// As <see cref="Compute(ReadOnlySpan{float}, int, AdvantageOptions, Span{float})"/> for groups of different sizes:
    /// group i is the next groupSizes[i] rewards (each K_i &gt;= 2); <see cref="AdvantageScale.Batch"/> divides by the
    /// std of all rewards.
    /// </summary>
    public static void Compute(ReadOnlySpan<float> rewards, ReadOnlySpan<int> groupSizes, AdvantageOptions options, Span<float> advantages)
    {
        ArgumentNullException.ThrowIfNull(options);
        GroupSizes.Check(groupSizes, rewards.Length, "a group advantage");
        if (advantages.Length != rewards.Length) throw new ArgumentException($"advantages: {advantages.Length} slots for {rewards.Length} rewards", nameof(advantages));
        if (!R2MHead.Finite(rewards)) throw new ArgumentException("rewards contain NaN or Inf", nameof(rewards));
        if (!(options.Epsilon >= 0f)) throw new ArgumentOutOfRangeException(nameof(options), options.Epsilon, "advantage epsilon must be >= 0");
        double batchStd = Std(rewards, options.BesselStd);
        int o = 0;
        foreach (var k in groupSizes)
        {
            var r = rewards.Slice(o, k);
            var a = advantages.Slice(o, k);
            o += k;
            double sum = 0;
            foreach (var v in r) sum += v;
            if (options.Estimator == AdvantageEstimator.Rloo)
            {
                for (int j = 0; j < k; j++) a[j] = (float)(r[j] - (sum - r[j]) / (k - 1));
                continue;
            }
            double mean = sum / k;
            double div = options.Scale switch
            {
                AdvantageScale.Group => Std(r, options.BesselStd) + options.Epsilon,
                AdvantageScale.Batch => batchStd + options.Epsilon,
                _ => 1.0,
            };
            if (div == 0) throw new ArgumentException("advantage std is zero and epsilon is 0: set a positive epsilon", nameof(options));
            for (int j = 0; j < k; j++) a[j] = (float)((r[j] - mean) / div);
        }
    }

    internal static double Std(ReadOnlySpan<float> x, bool bessel)
    {
        double mean = 0;
        foreach (var v in x) mean += v;
        mean /= x.Length;
        double ss = 0;
        foreach (var v in x) ss += (v - mean) * (v - mean);
        int den = bessel ? x.Length - 1 : x.Length;
        return den <= 0 ? 0 : Math.Sqrt(ss / den);
    }
}
