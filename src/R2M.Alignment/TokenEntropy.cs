using System.Numerics.Tensors;

namespace R2M.Alignment;

/// <summary>
/// Per-token entropy (nats) of the policy's next-token distribution p = softmax(z), z = logits / temperature,
/// the distribution its log-probs are taken from (TRL divides the logits by the sampling temperature
/// before both its log-probs and its logged entropy; docs/method.md section 8). H = logsumexp(z) - sum_i p_i z_i.
/// Both terms move by the same constant when z is shifted, so the row is shifted by its max first:
/// with u = z - max(z) and e = exp(u), H = ln(sum e) - (e . u) / (sum e). Every exp is then in (0, 1],
/// so nothing overflows at any logit magnitude, and sum e >= 1. A diagnostic only: no gradient.
/// Rows must be finite; a NaN in a row gives NaN.
/// </summary>
public static class TokenEntropy
{
    /// <summary>Entropy of one row of logits (V), clamped to [0, ln V] (the bounds a categorical entropy obeys; only rounding leaves them).</summary>
    /// <param name="logits">(V) raw logits</param>
    /// <param name="scratch">(2V) work buffer, overwritten</param>
    public static float Row(ReadOnlySpan<float> logits, float temperature, Span<float> scratch)
    {
        int v = logits.Length;
        if (v == 0) throw new ArgumentException("logits row is empty", nameof(logits));
        if (!(temperature > 0f) || float.IsInfinity(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be a positive finite number");
        if (scratch.Length < 2 * v) throw new ArgumentException($"scratch holds {scratch.Length} values, needs 2V = {2 * v}", nameof(scratch));
        var u = scratch[..v];
        var e = scratch.Slice(v, v);
        if (temperature == 1f) logits.CopyTo(u);
        else TensorPrimitives.Divide(logits, temperature, u); // same rounding as the log-probs' logits / tau
        TensorPrimitives.Subtract(u, TensorPrimitives.Max(u), u);
        TensorPrimitives.Exp(u, e);
        float z = TensorPrimitives.Sum(e);
        float h = MathF.Log(z) - TensorPrimitives.Dot(e, u) / z;
        return float.IsNaN(h) ? h : Math.Clamp(h, 0f, MathF.Log(v));
    }

    /// <summary>entropy (N) = <see cref="Row"/> of each row of logits (N, V).</summary>
    /// <param name="logits">(N, V) row-major</param>
    /// <param name="entropy">(N), written</param>
    public static void Rows(ReadOnlySpan<float> logits, int rows, int vocab, float temperature, Span<float> entropy)
    {
        if (rows < 0 || vocab <= 0) throw new ArgumentException($"rows ({rows}) must be >= 0 and vocab ({vocab}) positive");
        if (logits.Length != (long)rows * vocab) throw new ArgumentException($"logits: {logits.Length} values, expected N*V = {(long)rows * vocab}", nameof(logits));
        if (entropy.Length != rows) throw new ArgumentException($"entropy: {entropy.Length} slots, expected N = {rows}", nameof(entropy));
        var scratch = new float[2 * vocab];
        for (int n = 0; n < rows; n++) entropy[n] = Row(logits.Slice(n * vocab, vocab), temperature, scratch);
    }
}
