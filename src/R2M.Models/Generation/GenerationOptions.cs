namespace R2M.Models.Generation;

/// <summary>Sampling settings for <see cref="TextGenerator.Generate"/>.</summary>
public sealed record GenerationOptions
{
    /// <summary>Upper bound on generated tokens per row (stop tokens end a row earlier).</summary>
    public int MaxNewTokens { get; init; } = 32;

    /// <summary>Softmax temperature; 0 = greedy (argmax).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches p; 1 = off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Seed of the sampler (one stream for the whole batch, drawn row by row each step).</summary>
    public int Seed { get; init; }

    /// <summary>Tokens that end a row (the stop token is included in the output).</summary>
    public IReadOnlyCollection<int> StopTokens { get; init; } = [];

    /// <summary>Return the final hidden states of the positions fed to the model (see <see cref="GenerationResult.HiddenStates"/>).</summary>
    public bool ReturnHiddenStates { get; init; }

    /// <summary>Use the KV cache (default). Without it every step re-runs the whole sequence (a reference path for tests).</summary>
    public bool UseCache { get; init; } = true;

    internal void Validate()
    {
        if (MaxNewTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), $"MaxNewTokens must be at least 1 (got {MaxNewTokens})");
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), $"Temperature must be finite and >= 0 (got {Temperature})");
        if (TopK < 0)
            throw new ArgumentOutOfRangeException(nameof(TopK), $"TopK must be >= 0 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), $"TopP must be in (0, 1] (got {TopP})");
    }
}

/// <summary>What generation produced, per row of the batch.</summary>
public sealed class GenerationResult
{
    internal GenerationResult(int[][] tokens, float[][] logProbs, bool[] stopped, float[][]? hidden)
    {
        Tokens = tokens;
        LogProbs = logProbs;
        Stopped = stopped;
        HiddenStates = hidden;
    }

    /// <summary>Generated token ids per row (prompt excluded; a stop token is the last entry).</summary>
    public IReadOnlyList<int[]> Tokens { get; }

    /// <summary>
    /// Log-prob of each generated token under log_softmax(logits / temperature) (temperature 1 when
    /// greedy), before top-k/top-p filtering: the quantity policy-gradient losses recompute.
    /// </summary>
    public IReadOnlyList<float[]> LogProbs { get; }

    /// <summary>True where the row ended with a stop token.</summary>
    public IReadOnlyList<bool> Stopped { get; }

    /// <summary>
    /// When requested: per row (S-1, C) final hidden states (after the final norm) of prompt ⊕ response
    /// without its last token, S = prompt length + generated length; row t is the state that predicts
    /// token t+1, as a teacher-forced forward over the whole sequence gives it.
    /// </summary>
    public IReadOnlyList<float[]>? HiddenStates { get; }
}
