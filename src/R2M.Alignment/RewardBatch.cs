using R2M.Tensors;

namespace R2M.Alignment;

/// <summary>
/// One item of a scoring or GREBT batch whose items need not share omega or feedback source (a
/// server's dynamic batch mixes requests with different schedules and variants).
/// </summary>
/// <param name="Omega">omega(t) of the item's schedule.</param>
/// <param name="Feedback">Where the head's key/value rows come from: the policy's hidden states, noise like them, or none.</param>
public readonly record struct RewardItem(RewardInput Input, float Omega, FeedbackSource Feedback = FeedbackSource.Policy)
{
    /// <summary>
    /// The omega the head runs at: 1 for an item without feedback (source None, or no hidden rows), which
    /// is then scored phi(H_last) exactly, as the vanilla RM; the item's own omega otherwise.
    /// </summary>
    public float EffectiveOmega => Feedback == FeedbackSource.None || Input.Rows == 0 ? 1f : Omega;
}

/// <summary>
/// Groups for one GREBT update: group i is the next GroupSizes[i] items (K may differ per group).
/// SelectionRewards (one per item, or null) pick winner and loser; a group where some member has none
/// uses the rewards recomputed at the first step instead (docs/method.md section 3).
/// </summary>
public sealed record GrebtBatch(IReadOnlyList<RewardItem> Items, IReadOnlyList<int> GroupSizes, IReadOnlyList<float?>? SelectionRewards = null);

/// <summary>Per-call settings of <see cref="R2MRewardModel.Update(GrebtBatch, RewardUpdateOptions, Action{int}?, CancellationToken)"/>.</summary>
/// <param name="Settings">What the variant trains and where its feedback comes from (its alpha override applies to Grebt).</param>
/// <param name="GradClip">Global-norm clip of the trained range (&lt;= 0: measure only).</param>
/// <param name="Steps">GREBT steps on the same batch (noise drawn once, pairs chosen at the first step).</param>
public sealed record RewardUpdateOptions(VariantSettings Settings, GrebtOptions Grebt, float LearningRate, float GradClip = 1f, int Steps = 1)
{
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Settings);
        ArgumentNullException.ThrowIfNull(Grebt);
        Grebt.Validate();
        if (!(LearningRate >= 0f) || !float.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "learning rate must be finite and >= 0");
        if (float.IsNaN(GradClip)) throw new ArgumentOutOfRangeException(nameof(GradClip), GradClip, "gradient clip must be a number (<= 0 measures only)");
        if (Steps < 1) throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "steps must be >= 1");
    }
}

/// <summary>
/// A training step produced a non-finite loss, gradient or weight (a learning rate far too large, for
/// instance). The model that threw is partly trained: callers that must not keep that train a copy
/// (r2m-server trains a scratch copy and publishes only finished, finite updates).
/// </summary>
/// <param name="Step">1-based optimizer step that failed (steps + 1: the check after the last step).</param>
public sealed class NonFiniteTrainingException(string message, int step) : ArithmeticException(message)
{
    public int Step { get; } = step;
}

/// <summary>Mixed-omega batches through one <see cref="R2MHead"/>: validation, noise feedback, one forward per distinct omega.</summary>
internal static class RewardBatches
{
    /// <summary>Head inputs and omegas of items: every item checked first, then noise drawn from <paramref name="noise"/> for noise items.</summary>
    public static (RewardInput[] Inputs, float[] Omegas) Prepare(R2MHead head, IReadOnlyList<RewardItem> items, Rng noise)
    {
        ArgumentNullException.ThrowIfNull(items);
        var inputs = new RewardInput[items.Count];
        var omegas = new float[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            omegas[i] = items[i].EffectiveOmega;
            if (!(omegas[i] >= 0f && omegas[i] <= 1f)) throw new ArgumentOutOfRangeException(nameof(items), omegas[i], $"item {i}: omega must be in [0, 1]");
            head.Validate(items[i].Input, i, omegas[i] < 1f);
            inputs[i] = items[i].Input;
        }
        // Checked first: noise drawn from NaN statistics would hide which row was bad, and a rejected
        // batch must not advance the (checkpointed) noise stream. At omega = 1 the feedback is never read.
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].Feedback == FeedbackSource.Noise && omegas[i] < 1f) inputs[i] = WithNoise(head.Config.PolicyDim, inputs[i], noise);
        }
        return (inputs, omegas);
    }

    /// <summary>rewards (B) of inputs, one head forward per distinct omega (first-appearance order); the activations per group.</summary>
    public static List<(int[] Index, R2MHeadActivations Acts)> Forward(R2MHead head, RewardInput[] inputs, float[] omegas, Span<float> rewards)
    {
        var groups = new List<(int[] Index, R2MHeadActivations Acts)>();
        foreach (var omega in omegas.Distinct())
        {
            var index = Enumerable.Range(0, omegas.Length).Where(i => omegas[i] == omega).ToArray();
            var part = new float[index.Length];
            var acts = head.Forward(index.Length == inputs.Length ? inputs : [.. index.Select(i => inputs[i])], omega, part);
            for (int j = 0; j < index.Length; j++) rewards[index[j]] = part[j];
            groups.Add((index, acts));
        }
        return groups;
    }

    /// <summary>Accumulates the head's gradients from dRewards (B) through every group of <see cref="Forward"/>.</summary>
    public static void Backward(R2MHead head, List<(int[] Index, R2MHeadActivations Acts)> groups, ReadOnlySpan<float> dRewards)
    {
        foreach (var (index, acts) in groups)
        {
            var d = new float[index.Length];
            for (int j = 0; j < index.Length; j++) d[j] = dRewards[index[j]];
            head.Backward(acts, d);
        }
    }

    /// <summary>Gaussian noise with the same mean and variance as the item's real (unmasked) feedback values (R2M w/ Noise, method section 4).</summary>
    private static RewardInput WithNoise(int dp, RewardInput x, Rng rng)
    {
        var h = x.Hidden.Span;
        var mask = x.Mask.Span;
        double sum = 0, sq = 0;
        long n = 0;
        for (int r = 0; r < x.Rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            foreach (var v in h.Slice(r * dp, dp)) { sum += v; sq += (double)v * v; n++; }
        }
        if (n == 0) return x; // unreachable after validation: the head reports the padding-only item
        double mean = sum / n, std = Math.Sqrt(Math.Max(sq / n - mean * mean, 0));
        var noise = new float[x.Rows * dp];
        rng.FillNormal(noise, (float)mean, (float)std);
        return x with { Hidden = noise };
    }
}
