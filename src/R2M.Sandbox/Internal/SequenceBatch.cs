namespace R2M.Sandbox.Internal;

/// <summary>
/// Token sequences right-padded into one (B, T) batch for <c>TransformerModel.Forward</c>:
/// padding is <see cref="SandboxVocabulary.PadId"/> with mask 0. Right padding keeps each row's
/// positions 0.. and lets a sequence-classification head read the last non-pad token (HF
/// *ForSequenceClassification with pad_token_id), which is &lt;eos&gt; for a finished response,
/// exactly what the server scores.
/// </summary>
internal sealed class SequenceBatch
{
    private SequenceBatch(int[] tokens, int[] mask, int batch, int seqLen)
    {
        Tokens = tokens;
        Mask = mask;
        Batch = batch;
        SeqLen = seqLen;
    }

    /// <summary>(B, T) token ids.</summary>
    public int[] Tokens { get; }

    /// <summary>(B, T) 1 = token, 0 = padding.</summary>
    public int[] Mask { get; }

    public int Batch { get; }

    public int SeqLen { get; }

    public static SequenceBatch Build(IReadOnlyList<int[]> sequences)
    {
        if (sequences.Count == 0)
        {
            throw new ArgumentException("a batch needs at least one sequence", nameof(sequences));
        }
        int b = sequences.Count;
        int t = sequences.Max(s => s.Length);
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (int i = 0; i < b; i++)
        {
            sequences[i].CopyTo(tokens, i * t);
            Array.Fill(mask, 1, i * t, sequences[i].Length);
        }
        return new SequenceBatch(tokens, mask, b, t);
    }
}
