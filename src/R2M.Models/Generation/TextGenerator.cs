namespace R2M.Models.Generation;

/// <summary>
/// Batched autoregressive generation. Prompts are left-padded to a common length (mask 0, so
/// positions and attention ignore the padding), then each step samples one token per unfinished
/// row. With the KV cache each step feeds only the new tokens; without it each step re-runs the
/// whole sequence, which must give the same tokens (tested). Cancellation is checked before every
/// forward pass, so a cancelled call stops within one decode step.
/// </summary>
public static class TextGenerator
{
    public static GenerationResult Generate(TransformerModel model, IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prompts);
        options.Validate();
        if (model.Config.Head != ModelHead.CausalLm)
            throw new InvalidOperationException("generation needs a causal-LM head");
        if (prompts.Count == 0)
            throw new ArgumentException("no prompts", nameof(prompts));
        for (var i = 0; i < prompts.Count; i++)
            if (prompts[i] is null || prompts[i].Length == 0)
                throw new ArgumentException($"prompt {i} is empty", nameof(prompts));
        var state = new GenerationState(model, prompts, options);
        if (options.UseCache)
            RunCached(model, state, cancellationToken);
        else
            RunUncached(model, state, cancellationToken);
        return state.Result();
    }

    private static void RunCached(TransformerModel model, GenerationState s, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var cache = model.CreateCache(s.B, s.Tp + s.Options.MaxNewTokens);
        var hidden = s.Options.ReturnHiddenStates ? new float[s.B * s.Tp * s.C] : default;
        model.ForwardCached(s.PromptTokens, s.PromptMask, cache, s.Logits, hidden);
        s.AddHidden(hidden, s.PromptMask, s.Tp);
        var next = new int[s.B];
        var nextMask = new int[s.B];
        var stepHidden = s.Options.ReturnHiddenStates ? new float[s.B * s.C] : default;
        while (s.Step(next, nextMask))
        {
            ct.ThrowIfCancellationRequested();
            model.ForwardCached(next, nextMask, cache, s.Logits, stepHidden);
            s.AddHidden(stepHidden, nextMask, 1);
        }
    }

    private static void RunUncached(TransformerModel model, GenerationState s, CancellationToken ct)
    {
        var tokens = new List<int>(s.PromptTokens);
        var mask = new List<int>(s.PromptMask);
        var t = s.Tp;
        var next = new int[s.B];
        var nextMask = new int[s.B];
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var r = model.Forward(Interleave(tokens, s.B, s.Tp, t), Interleave(mask, s.B, s.Tp, t), s.B, t);
            var v = model.Config.VocabSize;
            for (var b = 0; b < s.B; b++)
                r.Logits.Span.Slice(((b * t) + t - 1) * v, v).CopyTo(s.Logits.AsSpan(b * v, v));
            if (!s.Step(next, nextMask))
                break;
            tokens.AddRange(next);
            mask.AddRange(nextMask);
            t++;
        }
        if (s.Options.ReturnHiddenStates)
        {
            var r = model.Forward(Interleave(tokens, s.B, s.Tp, t), Interleave(mask, s.B, s.Tp, t), s.B, t);
            s.AddHidden(r.Hidden.Span.ToArray(), Interleave(mask, s.B, s.Tp, t), t);
        }
    }

    /// <summary>stored = prompt block (B, Tp) row-major, then one block of B per step; returns (B, T) row-major.</summary>
    private static int[] Interleave(List<int> stored, int b, int tp, int t)
    {
        var result = new int[b * t];
        for (var bi = 0; bi < b; bi++)
        {
            for (var ti = 0; ti < tp; ti++)
                result[bi * t + ti] = stored[bi * tp + ti];
            for (var si = 0; si < t - tp; si++)
                result[bi * t + tp + si] = stored[b * tp + si * b + bi];
        }
        return result;
    }
}
