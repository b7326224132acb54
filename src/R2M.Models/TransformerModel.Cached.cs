namespace R2M.Models;

public abstract partial class TransformerModel
{
    /// <summary>An empty KV cache for <paramref name="batch"/> rows of up to <paramref name="capacity"/> positions.</summary>
    public KvCache CreateCache(int batch, int capacity)
    {
        if (batch <= 0 || capacity <= 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"batch ({batch}) and capacity ({capacity}) must be positive");
        return new KvCache(Config, batch, capacity);
    }

    /// <summary>
    /// Appends (B, Tn) tokens to the cache and returns the LM logits of each row's last new position.
    /// Positions continue each row's count of real tokens, as in <see cref="Forward"/>.
    /// </summary>
    /// <param name="tokens">(B, Tn)</param>
    /// <param name="attentionMask">(B, Tn) 1 = token, 0 = padding; empty = all ones</param>
    /// <param name="lastLogits">(B, V), written</param>
    /// <param name="hidden">(B, Tn, C) final hidden states, written when not empty</param>
    public void ForwardCached(ReadOnlySpan<int> tokens, ReadOnlySpan<int> attentionMask, KvCache cache, Span<float> lastLogits, Span<float> hidden = default)
    {
        if (Config.Head != ModelHead.CausalLm)
            throw new InvalidOperationException("cached decoding needs a causal-LM head");
        var b = cache.Batch;
        var t = tokens.Length / b;
        CheckInputs(tokens, attentionMask, b, t);
        if (cache.Length + t > cache.Capacity)
            throw new InvalidOperationException($"KV cache full: {cache.Length} + {t} positions exceed capacity {cache.Capacity}");
        if (lastLogits.Length != b * Config.VocabSize)
            throw new ArgumentException($"lastLogits must hold B*V = {b * Config.VocabSize} values", nameof(lastLogits));
        var a = Buffers(b, t, training: false);
        tokens.CopyTo(a.Tokens);
        FillMaskAndPositions(attentionMask, a.KeyMask, a.Positions, b, t, cache.NextPosition);
        for (var bi = 0; bi < b; bi++)
            a.KeyMask.AsSpan(bi * t, t).CopyTo(cache.KeyMask.AsSpan(bi * cache.Capacity + cache.Length, t));
        Embed(a.Tokens, a.Resid[0]);
        RunLayers(a, b, t, cache);
        FinalNormAndHead(a, b, t, attentionMask, lastLogits);
        if (!hidden.IsEmpty)
            a.Hidden.AsSpan(0, b * t * Config.HiddenSize).CopyTo(hidden);
        cache.Length += t;
    }
}
