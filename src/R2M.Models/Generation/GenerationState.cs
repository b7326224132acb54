namespace R2M.Models.Generation;

/// <summary>Per-call bookkeeping of <see cref="TextGenerator"/>: padded prompts, outputs, finished rows.</summary>
internal sealed class GenerationState
{
    private readonly List<int>[] _tokens;
    private readonly List<float>[] _logProbs;
    private readonly List<float>[]? _hidden;
    private readonly bool[] _done;
    private readonly bool[] _stopped;
    private readonly HashSet<int> _stops;
    private readonly Sampler _sampler;
    private readonly int[] _promptLen;
    private readonly int _filler;

    public GenerationState(TransformerModel model, IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        Options = options;
        B = prompts.Count;
        C = model.Config.HiddenSize;
        V = model.Config.VocabSize;
        Tp = prompts.Max(p => p.Length);
        _filler = model.Config.PadTokenId is { } padId && padId >= 0 && padId < V ? padId : 0;
        PromptTokens = new int[B * Tp];
        PromptMask = new int[B * Tp];
        _promptLen = new int[B];
        for (var b = 0; b < B; b++)
        {
            var p = prompts[b];
            _promptLen[b] = p.Length;
            var pad = Tp - p.Length;
            for (var t = 0; t < Tp; t++)
            {
                PromptTokens[b * Tp + t] = t < pad ? _filler : p[t - pad];
                PromptMask[b * Tp + t] = t < pad ? 0 : 1;
            }
        }
        Logits = new float[B * V];
        _tokens = Enumerable.Range(0, B).Select(_ => new List<int>()).ToArray();
        _logProbs = Enumerable.Range(0, B).Select(_ => new List<float>()).ToArray();
        _hidden = options.ReturnHiddenStates ? Enumerable.Range(0, B).Select(_ => new List<float>()).ToArray() : null;
        _done = new bool[B];
        _stopped = new bool[B];
        _stops = [.. options.StopTokens];
        _sampler = new Sampler(options, V);
    }

    public GenerationOptions Options { get; }
    public int B { get; }
    public int C { get; }
    public int V { get; }
    public int Tp { get; }
    public int[] PromptTokens { get; }
    public int[] PromptMask { get; }

    /// <summary>(B, V) logits of each row's last position, filled by the caller before <see cref="Step"/>.</summary>
    public float[] Logits { get; }

    /// <summary>
    /// Samples one token for every unfinished row (rows in order, one shared RNG). Returns false when
    /// generation is over; otherwise next/nextMask (B) hold the tokens to feed (filler, mask 0, for finished rows).
    /// </summary>
    public bool Step(int[] next, int[] nextMask)
    {
        var any = false;
        for (var b = 0; b < B; b++)
        {
            next[b] = _filler;
            nextMask[b] = 0;
            if (_done[b])
                continue;
            var (token, logProb) = _sampler.Next(Logits.AsSpan(b * V, V));
            _tokens[b].Add(token);
            _logProbs[b].Add(logProb);
            if (_stops.Contains(token))
            {
                _done[b] = _stopped[b] = true;
                continue;
            }
            if (_tokens[b].Count >= Options.MaxNewTokens)
            {
                _done[b] = true;
                continue;
            }
            next[b] = token;
            nextMask[b] = 1;
            any = true;
        }
        return any;
    }

    /// <summary>Appends the hidden states (B, t, C) of real positions (mask 1) to each row.</summary>
    public void AddHidden(ReadOnlySpan<float> hidden, ReadOnlySpan<int> mask, int t)
    {
        if (_hidden is null)
            return;
        for (var b = 0; b < B; b++)
            for (var ti = 0; ti < t; ti++)
                if (mask[b * t + ti] != 0)
                    _hidden[b].AddRange(hidden.Slice((b * t + ti) * C, C));
    }

    public GenerationResult Result()
    {
        float[][]? hidden = null;
        if (_hidden is not null)
        {
            // S - 1 states per row: prompt ⊕ response without the last token (never fed when cached).
            hidden = new float[B][];
            for (var b = 0; b < B; b++)
                hidden[b] = _hidden[b].Take((_promptLen[b] + _tokens[b].Count - 1) * C).ToArray();
        }
        return new GenerationResult(_tokens.Select(x => x.ToArray()).ToArray(), _logProbs.Select(x => x.ToArray()).ToArray(),
            _stopped, hidden);
    }
}
