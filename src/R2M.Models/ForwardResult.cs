namespace R2M.Models;

/// <summary>
/// What <see cref="TransformerModel.Forward"/> returns. The memory belongs to the model and is
/// overwritten by its next forward call; copy what must outlive it.
/// </summary>
public sealed class ForwardResult
{
    internal ForwardResult(int batch, int seqLen, ReadOnlyMemory<float> logits, ReadOnlyMemory<float> hidden,
        ReadOnlyMemory<float> scores, ReadOnlyMemory<int> scoreIndex)
    {
        Batch = batch;
        SeqLen = seqLen;
        Logits = logits;
        Hidden = hidden;
        Scores = scores;
        ScoreIndex = scoreIndex;
    }

    public int Batch { get; }
    public int SeqLen { get; }

    /// <summary>(B, T, V) for a causal-LM head; empty otherwise.</summary>
    public ReadOnlyMemory<float> Logits { get; }

    /// <summary>(B, T, C) last-layer hidden states after the final norm.</summary>
    public ReadOnlyMemory<float> Hidden { get; }

    /// <summary>(B, num_labels) for a classification/reward head; empty otherwise.</summary>
    public ReadOnlyMemory<float> Scores { get; }

    /// <summary>(B) position each row's score was read at (rightmost non-pad token).</summary>
    public ReadOnlyMemory<int> ScoreIndex { get; }
}
