namespace R2M.Client.Training;

/// <summary>Group-relative advantages of R2M-METHOD.md section 1 step 4, computed on the client.</summary>
public static class GroupAdvantages
{
    /// <summary>
    /// GRPO: A_j = (r_j - mean) / (std + eps). The std is Bessel-corrected (divide by K - 1), as
    /// TRL and the server's own reward-to-advantage path (policy.proto REWARD_SCALING_GROUP), so
    /// client- and server-computed advantages agree.
    /// </summary>
    public static double[] Grpo(IReadOnlyList<double> rewards, double epsilon)
    {
        Check(rewards);
        double mean = rewards.Average();
        double ss = rewards.Sum(r => (r - mean) * (r - mean));
        double std = Math.Sqrt(ss / (rewards.Count - 1));
        return rewards.Select(r => (r - mean) / (std + epsilon)).ToArray();
    }

    /// <summary>RLOO: A_j = r_j - mean of the other K - 1 rewards.</summary>
    public static double[] Rloo(IReadOnlyList<double> rewards)
    {
        Check(rewards);
        double total = rewards.Sum();
        int k = rewards.Count;
        return rewards.Select(r => r - (total - r) / (k - 1)).ToArray();
    }

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
