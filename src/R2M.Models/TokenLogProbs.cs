using R2M.Tensors;

namespace R2M.Models;

/// <summary>
/// Per-token log-probabilities from logits: logp[n] = log_softmax(logits[n] / temperature)[target[n]]
/// (stable log-sum-exp), and its backward, over <see cref="CrossEntropy"/> (R2M.Tensors). A negative target marks an ignored row (logp 0, no gradient).
/// </summary>
public static class TokenLogProbs
{
    /// <param name="logits">(N, V)</param>
    /// <param name="targets">(N)</param>
    /// <param name="logp">(N), written</param>
    public static void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> logp, int vocab, float temperature = 1f)
    {
        var n = Check(logits, targets, vocab, temperature);
        if (logp.Length != n)
            throw new ArgumentException($"logp must hold {n} values", nameof(logp));
        CrossEntropy.Forward(logp, default, logits, targets, n, vocab, temperature);
    }

    /// <summary>dLogits[n] += dLogp[n] * (onehot(target) - softmax(logits[n] / T)) / T.</summary>
    /// <param name="dLogp">(N)</param>
    /// <param name="dLogits">(N, V), accumulated</param>
    public static void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> dLogp,
        Span<float> dLogits, int vocab, float temperature = 1f)
    {
        var n = Check(logits, targets, vocab, temperature);
        if (dLogp.Length != n || dLogits.Length != logits.Length)
            throw new ArgumentException($"dLogp must hold {n} values and dLogits {logits.Length}", nameof(dLogits));
        // The kernel's backward needs logsumexp(logits / T) per row, which its forward computes.
        var lse = new float[n];
        CrossEntropy.Forward(new float[n], lse, logits, targets, n, vocab, temperature);
        CrossEntropy.Backward(dLogits, dLogp, logits, lse, targets, n, vocab, temperature);
    }

    private static int Check(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int vocab, float temperature)
    {
        if (vocab <= 0 || logits.Length % vocab != 0 || logits.Length / vocab != targets.Length)
            throw new ArgumentException($"logits ({logits.Length}) must be targets ({targets.Length}) x vocab ({vocab})", nameof(logits));
        if (!(temperature > 0))
            throw new ArgumentOutOfRangeException(nameof(temperature), "temperature must be positive");
        foreach (var t in targets)
            if (t >= vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target {t} is outside the vocabulary [0, {vocab})");
        return targets.Length;
    }
}
