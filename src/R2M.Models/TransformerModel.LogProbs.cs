using R2M.Tensors;

namespace R2M.Models;

public abstract partial class TransformerModel
{
    private float[]? _dLogits;

    /// <summary>(B*T) logsumexp(logits / T) rows of the last training LogProbs, for its backward.</summary>
    private float[]? _lse;

    private float _lseTemperature;

    /// <summary>
    /// Teacher-forced per-token log-probs of a batch: logp[b, t] = log p(tokens[b, t+1] | tokens[b, ..t])
    /// at <paramref name="temperature"/>, for t in [0, T-1); 0 where either position is padding.
    /// Returns the forward result too (hidden states for R2M). With <paramref name="training"/>,
    /// follow with <see cref="BackwardLogProbs"/>.
    /// </summary>
    /// <param name="logp">(B, T-1), written</param>
    public ForwardResult LogProbs(ReadOnlySpan<int> tokens, ReadOnlySpan<int> attentionMask, int batch, int seqLen,
        Span<float> logp, float temperature = 1f, bool training = false)
    {
        if (Config.Head != ModelHead.CausalLm)
            throw new InvalidOperationException("log-probs need a causal-LM head");
        if (logp.Length != batch * (seqLen - 1))
            throw new ArgumentException($"logp must hold B*(T-1) = {batch * (seqLen - 1)} values", nameof(logp));
        var r = Forward(tokens, attentionMask, batch, seqLen, training);
        var targets = ShiftedTargets(tokens, attentionMask, batch, seqLen);
        if (!(temperature > 0) || float.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be a positive finite number");
        var all = new float[batch * seqLen];
        _lse = training ? new float[batch * seqLen] : null;
        _lseTemperature = temperature;
        CrossEntropy.Forward(all, _lse, r.Logits.Span, targets, batch * seqLen, Config.VocabSize, temperature);
        for (var b = 0; b < batch; b++)
            all.AsSpan(b * seqLen, seqLen - 1).CopyTo(logp.Slice(b * (seqLen - 1), seqLen - 1));
        return r;
    }

    /// <summary>
    /// Backward of <see cref="LogProbs"/> (which must have run with training): gradients arrive as
    /// dLogp (B, T-1) and optionally dHidden (B, T, C); accumulates into <see cref="Gradients"/>.
    /// </summary>
    public void BackwardLogProbs(ReadOnlySpan<float> dLogp, ReadOnlySpan<float> dHidden, float temperature = 1f)
    {
        var a = _acts is { Training: true } x ? x : throw new InvalidOperationException("BackwardLogProbs needs a preceding LogProbs with training: true");
        int b = a.B, t = a.T, v = Config.VocabSize;
        if (dLogp.Length != b * (t - 1))
            throw new ArgumentException($"dLogp must hold B*(T-1) = {b * (t - 1)} values", nameof(dLogp));
        var mask = new int[b * t];
        for (var i = 0; i < mask.Length; i++)
            mask[i] = a.KeyMask[i] != 0 ? 1 : 0;
        var targets = ShiftedTargets(a.Tokens, mask, b, t);
        var full = new float[b * t];
        for (var bi = 0; bi < b; bi++)
            dLogp.Slice(bi * (t - 1), t - 1).CopyTo(full.AsSpan(bi * t, t - 1));
        if (_dLogits is null || _dLogits.Length != a.Logits.Length)
            _dLogits = new float[a.Logits.Length];
        else
            Array.Clear(_dLogits);
        if (_lse is null || _lse.Length != b * t || _lseTemperature != temperature)
            throw new InvalidOperationException($"BackwardLogProbs needs a preceding LogProbs with training: true at the same temperature ({temperature})");
        CrossEntropy.Backward(_dLogits, full, a.Logits, _lse, targets, b * t, v, temperature);
        Backward(_dLogits, dHidden);
    }

    /// <summary>targets[b, t] = tokens[b, t+1] where both positions are real, else -1 (also for t = T-1).</summary>
    private static int[] ShiftedTargets(ReadOnlySpan<int> tokens, ReadOnlySpan<int> mask, int b, int t)
    {
        var targets = new int[b * t];
        for (var bi = 0; bi < b; bi++)
            for (var ti = 0; ti < t; ti++)
            {
                var i = bi * t + ti;
                var real = ti + 1 < t && (mask.IsEmpty || (mask[i] != 0 && mask[i + 1] != 0));
                targets[i] = real ? tokens[i + 1] : -1;
            }
        return targets;
    }
}
