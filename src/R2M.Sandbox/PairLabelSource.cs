namespace R2M.Sandbox;

/// <summary>
/// Which scores pick each group's winner and loser for the online Bradley-Terry term of GREBT.
/// </summary>
public enum PairLabelSource
{
    /// <summary>
    /// The reward model's own annotation-time rewards: the paper's method (Huang et al. 2026,
    /// section 4.2: "we select only the responses with the highest and lowest reward scores").
    /// </summary>
    RewardModel,

    /// <summary>
    /// The gold reward. A diagnostic positive control, NOT R2M: no gold label enters the paper's
    /// online update. It shows what re-aligning the head could do if its pairs were right.
    /// </summary>
    Gold,
}

/// <summary>Selection rewards for a GREBT update from a <see cref="PairLabelSource"/>.</summary>
public static class PairLabels
{
    /// <summary>
    /// The rewards whose first arg max and first arg min in each group become w and l (send them as
    /// the members' annotation rewards with pair selection "annotation"; "recomputed" would ignore
    /// them). <see cref="PairLabelSource.Gold"/> returns the gold rewards (diagnostic positive
    /// control, not R2M): gold ties keep the first index, and a group whose gold rewards are all equal
    /// has no pair (its BT term is 0). The GRE term always uses the recomputed RM rewards.
    /// </summary>
    public static double[] SelectionRewards(PairLabelSource source, IReadOnlyList<double> rewardModel, IReadOnlyList<double> gold)
    {
        ArgumentNullException.ThrowIfNull(rewardModel);
        ArgumentNullException.ThrowIfNull(gold);
        if (rewardModel.Count != gold.Count)
        {
            throw new ArgumentException($"rewardModel has {rewardModel.Count} rewards but gold has {gold.Count}", nameof(gold));
        }
        return source switch
        {
            PairLabelSource.RewardModel => rewardModel.ToArray(),
            PairLabelSource.Gold => gold.ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(source), source, "unknown pair label source"),
        };
    }

    /// <summary>How reports name the source; the gold one always says "diagnostic positive control, not R2M".</summary>
    public static string Describe(PairLabelSource source) => source switch
    {
        PairLabelSource.RewardModel => "reward-model (the paper's own-score pairs)",
        PairLabelSource.Gold => "gold (diagnostic positive control, not R2M)",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "unknown pair label source"),
    };
}
