namespace R2M.Alignment;

/// <summary>Shape of the R2M head (docs/method.md section 2).</summary>
/// <param name="RmDim">D_rm: width of the reward backbone's final hidden state (the RTE).</param>
/// <param name="PolicyDim">D_p: width of the policy's last-layer hidden states (may differ from D_rm).</param>
/// <param name="AttnDim">d: cross-attention width (paper: 2048 for 3B-8B models).</param>
/// <param name="Heads">Number of attention heads; d must divide evenly. 1 is the paper.</param>
/// <param name="PhiBias">Whether the scoring head phi has a bias (HF sequence-classification heads do not; Open-Assistant's does).</param>
public sealed record R2MHeadConfig(int RmDim, int PolicyDim, int AttnDim, int Heads = 1, bool PhiBias = true)
{
    /// <summary>Throws a clear error when a dimension is unusable.</summary>
    public void Validate()
    {
        if (RmDim <= 0) throw new ArgumentOutOfRangeException(nameof(RmDim), RmDim, "D_rm must be positive");
        if (PolicyDim <= 0) throw new ArgumentOutOfRangeException(nameof(PolicyDim), PolicyDim, "D_p must be positive");
        if (AttnDim <= 0) throw new ArgumentOutOfRangeException(nameof(AttnDim), AttnDim, "d must be positive");
        if (Heads <= 0 || AttnDim % Heads != 0)
            throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"heads must be positive and divide d = {AttnDim}");
    }
}

/// <summary>omega(t) = max(0.5 cos(pi t / T) + 0.5, Omega) (docs/method.md section 2).</summary>
public static class OmegaSchedule
{
    /// <summary>
    /// Mixing weight of H_last at step t of T. omega(0) is exactly 1 (cos(0) = 1, 0.5 + 0.5 = 1 in
    /// floating point), so the R2M score equals the vanilla score at the start. Steps beyond T
    /// clamp to T (evaluation uses t = T).
    /// </summary>
    public static float Omega(long t, long totalSteps, float floor)
    {
        if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "T must be positive");
        if (t < 0) throw new ArgumentOutOfRangeException(nameof(t), t, "t must be >= 0");
        if (!(floor >= 0f && floor <= 1f)) throw new ArgumentOutOfRangeException(nameof(floor), floor, "Omega must be in [0, 1]");
        double tt = Math.Min(t, totalSteps);
        double w = 0.5 * Math.Cos(Math.PI * tt / totalSteps) + 0.5;
        return (float)Math.Max(w, floor);
    }
}

/// <summary>
/// One item to score: the reward token embedding H_last (D_rm) and the policy feedback h
/// ((rows, D_p), row-major, the S-1 next-token positions of x ⊕ y). Mask: true = real token;
/// null = every row is real. Items may have different row counts.
/// </summary>
public sealed record RewardInput(ReadOnlyMemory<float> Rte, ReadOnlyMemory<float> Hidden, int Rows, ReadOnlyMemory<bool> Mask = default);
