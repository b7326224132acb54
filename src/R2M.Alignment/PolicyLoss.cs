namespace R2M.Alignment;

/// <summary>Loss aggregation over tokens (TRL loss_type; docs/method.md section 8).</summary>
public enum LossAggregation
{
    /// <summary>Mean over sequences of each sequence's token mean.</summary>
    Grpo,

    /// <summary>Sum over tokens / active tokens of the (mini)batch.</summary>
    Bnpo,

    /// <summary>Sum over tokens / active tokens of the global batch (TokenNormalizer; equals Bnpo without accumulation).</summary>
    Dapo,

    /// <summary>Sum over tokens / (batch * MaxCompletionLength).</summary>
    DrGrpo,
}

/// <summary>Clipped-surrogate options.</summary>
/// <param name="Epsilon">Lower clip: rho >= 1 - Epsilon.</param>
/// <param name="EpsilonHigh">Upper clip (DAPO suggests 0.28); null = Epsilon.</param>
/// <param name="Beta">Weight of the k3 KL to the reference; 0 skips the KL and the reference log-probs.</param>
/// <param name="MaxCompletionLength">Dr. GRPO's constant denominator; 0 = the T of the call.</param>
public sealed record PolicyLossOptions(
    float Epsilon = 0.2f,
    float? EpsilonHigh = null,
    float Beta = 0f,
    LossAggregation Aggregation = LossAggregation.Grpo,
    int MaxCompletionLength = 0)
{
    public void Validate()
    {
        if (!(Epsilon >= 0f && Epsilon < 1f)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "epsilon must be in [0, 1)");
        if (EpsilonHigh is float eh && !(eh >= 0f)) throw new ArgumentOutOfRangeException(nameof(EpsilonHigh), eh, "epsilon_high must be >= 0");
        if (!(Beta >= 0f) || !float.IsFinite(Beta)) throw new ArgumentOutOfRangeException(nameof(Beta), Beta, "beta must be >= 0");
        if (MaxCompletionLength < 0) throw new ArgumentOutOfRangeException(nameof(MaxCompletionLength), MaxCompletionLength, "must be >= 0");
    }
}

/// <summary>Loss value and diagnostics of one call.</summary>
/// <param name="Kl">Mean k3 KL over active tokens (0 when beta = 0).</param>
/// <param name="ClipFraction">Fraction of active tokens whose clipped branch was taken.</param>
public readonly record struct PolicyLossResult(float Loss, float Kl, float ClipFraction, int ActiveTokens);

/// <summary>
/// Per-token clipped surrogate with a k3 KL penalty (docs/method.md section 1 step 5 and
/// section 8): rho = exp(logp - logp_old), l = -min(rho A, clip(rho, 1 - eps, 1 + eps_high) A)
/// + beta (exp(ref - logp) - (ref - logp) - 1), aggregated per <see cref="LossAggregation"/>.
/// All buffers are (B,T) row-major over completion tokens; mask true = a real completion token.
/// </summary>
public static class PolicyLoss
{
    /// <summary>
    /// Computes the loss and writes dLogp (B,T) = d(loss)/d(logp) (overwritten; zero on masked tokens).
    /// refLogp may be empty when beta = 0. tokenNormalizer overrides the active-token count for Dapo.
    /// </summary>
    public static PolicyLossResult Compute(
        ReadOnlySpan<float> logp, ReadOnlySpan<float> oldLogp, ReadOnlySpan<float> refLogp, ReadOnlySpan<bool> mask,
        ReadOnlySpan<float> advantages, int batch, int tokens, PolicyLossOptions options, Span<float> dLogp, int tokenNormalizer = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Check(logp, oldLogp, refLogp, mask, advantages, batch, tokens, options, dLogp);
        double lo = 1 - options.Epsilon, hi = 1 + (options.EpsilonHigh ?? options.Epsilon), beta = options.Beta;
        int active = 0;
        for (int t = 0; t < mask.Length; t++) if (mask[t]) active++;
        double total = 0, kl = 0;
        int clipped = 0;
        dLogp.Clear();
        for (int b = 0; b < batch; b++)
        {
            int seqActive = 0;
            for (int t = 0; t < tokens; t++) if (mask[b * tokens + t]) seqActive++;
            double w = Weight(options, batch, tokens, active, seqActive, tokenNormalizer);
            double a = advantages[b];
            for (int t = 0; t < tokens; t++)
            {
                int i = b * tokens + t;
                if (!mask[i]) continue;
                double rho = Math.Exp((double)logp[i] - oldLogp[i]);
                double un = rho * a, cl = Math.Clamp(rho, lo, hi) * a;
                double l, g;
                if (un <= cl) { l = -un; g = -un; } // d(rho)/d(logp) = rho
                else { l = -cl; g = 0; clipped++; } // clip active: constant in logp
                if (beta != 0)
                {
                    double diff = (double)refLogp[i] - logp[i], e = Math.Exp(diff);
                    double k3 = K3(diff);
                    l += beta * k3;
                    g += beta * (1 - e);
                    kl += k3;
                }
                total += w * l;
                dLogp[i] = (float)(w * g);
            }
        }
        return new PolicyLossResult((float)total, active == 0 ? 0f : (float)(kl / active), active == 0 ? 0f : (float)clipped / active, active);
    }

    /// <summary>
    /// Mean per-token k3 of each rollout's sampling log-probs (OldLogProbs) to its RefLogProbs over all completion
    /// tokens: the KL of the sampling policy to the reference (what a trainer reports when beta = 0 leaves the loss
    /// without a KL term); 0 without tokens. Statistics in double.
    /// </summary>
    public static float MeanK3(IReadOnlyList<Rollout> rollouts)
    {
        ArgumentNullException.ThrowIfNull(rollouts);
        double sum = 0;
        long n = 0;
        foreach (var r in rollouts)
        {
            var reference = r.RefLogProbs ?? throw new ArgumentException($"rollout {r.Id} has no reference log-probs", nameof(rollouts));
            for (int i = 0; i < r.Completion.Length; i++) sum += K3((double)reference[i] - r.OldLogProbs[i]);
            n += r.Completion.Length;
        }
        return n == 0 ? 0f : (float)(sum / n);
    }

    /// <summary>k3 = exp(d) - d - 1 with d = ref - logp (Schulman's unbiased, non-negative KL estimator).</summary>
    private static double K3(double diff) => Math.Exp(diff) - diff - 1;

    private static double Weight(PolicyLossOptions o, int batch, int tokens, int active, int seqActive, int tokenNormalizer) => o.Aggregation switch
    {
        LossAggregation.Grpo => 1.0 / (batch * (double)Math.Max(seqActive, 1)),
        LossAggregation.Bnpo => 1.0 / Math.Max(active, 1),
        LossAggregation.Dapo => 1.0 / Math.Max(tokenNormalizer > 0 ? tokenNormalizer : active, 1),
        _ => 1.0 / (batch * (double)(o.MaxCompletionLength > 0 ? o.MaxCompletionLength : tokens)),
    };

    private static void Check(
        ReadOnlySpan<float> logp, ReadOnlySpan<float> oldLogp, ReadOnlySpan<float> refLogp, ReadOnlySpan<bool> mask,
        ReadOnlySpan<float> advantages, int batch, int tokens, PolicyLossOptions options, Span<float> dLogp)
    {
        if (batch <= 0 || tokens <= 0) throw new ArgumentException($"batch ({batch}) and tokens ({tokens}) must be positive");
        int n = batch * tokens;
        if (logp.Length != n) throw new ArgumentException($"logp: {logp.Length} values, expected B*T = {n}", nameof(logp));
        if (oldLogp.Length != n) throw new ArgumentException($"oldLogp: {oldLogp.Length} values, expected B*T = {n}", nameof(oldLogp));
        if (mask.Length != n) throw new ArgumentException($"mask: {mask.Length} values, expected B*T = {n}", nameof(mask));
        if (dLogp.Length != n) throw new ArgumentException($"dLogp: {dLogp.Length} slots, expected B*T = {n}", nameof(dLogp));
        if (advantages.Length != batch) throw new ArgumentException($"advantages: {advantages.Length} values for batch {batch}", nameof(advantages));
        if (options.Beta != 0 && refLogp.Length != n) throw new ArgumentException($"refLogp: {refLogp.Length} values, expected B*T = {n} (beta > 0 needs reference log-probs)", nameof(refLogp));
        if (!R2MHead.Finite(advantages)) throw new ArgumentException("advantages contain NaN or Inf", nameof(advantages));
        for (int i = 0; i < n; i++)
        {
            if (!mask[i]) continue;
            if (!float.IsFinite(logp[i]) || !float.IsFinite(oldLogp[i]) || (options.Beta != 0 && !float.IsFinite(refLogp[i])))
                throw new ArgumentException($"log-prob at (sequence {i / tokens}, token {i % tokens}) is NaN or Inf");
        }
    }
}
