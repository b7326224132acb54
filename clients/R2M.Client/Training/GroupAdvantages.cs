using R2M.Alignment;

namespace R2M.Client.Training;

/// <summary>
/// Group-relative advantages of docs/method.md section 1 step 4 for one group, computed on the
/// client by <see cref="Advantages.Compute"/> (R2M.Alignment), the estimator the server's own
/// reward-to-advantage path runs, so client- and server-computed advantages agree.
/// </summary>
public static class GroupAdvantages
{
    /// <summary>GRPO: A_j = (r_j - mean) / (std + eps), Bessel-corrected std (divide by K - 1) as TRL.</summary>
    public static double[] Grpo(IReadOnlyList<double> rewards, double epsilon) =>
        Compute(rewards, new AdvantageOptions(AdvantageEstimator.Grpo, AdvantageScale.Group, BesselStd: true, Epsilon: (float)epsilon));

    /// <summary>RLOO: A_j = r_j - mean of the other K - 1 rewards.</summary>
    public static double[] Rloo(IReadOnlyList<double> rewards) =>
        Compute(rewards, new AdvantageOptions(AdvantageEstimator.Rloo));

    private static double[] Compute(IReadOnlyList<double> rewards, AdvantageOptions options)
    {
        Check(rewards);
        // Rewards arrive as float32 on the wire (ScoreReply.reward) and advantages leave as float32
        // (PolicyItem.advantage), so the float estimator loses nothing.
        float[] r = rewards.Select(x => (float)x).ToArray();
        var a = new float[r.Length];
        Advantages.Compute(r, r.Length, options, a);
        return Array.ConvertAll(a, x => (double)x);
    }

    // Checked here, before the estimator, so the error names the group's size and the bad reward's index.
    private static void Check(IReadOnlyList<double> rewards)
    {
        ArgumentNullException.ThrowIfNull(rewards);
        if (rewards.Count < 2)
        {
            throw new ArgumentException($"a group needs at least 2 rewards, got {rewards.Count}", nameof(rewards));
        }

        for (int i = 0; i < rewards.Count; i++)
        {
            if (!double.IsFinite(rewards[i]))
            {
                throw new ArgumentException($"reward {i} of the group is {rewards[i]}", nameof(rewards));
            }
        }
    }
}
