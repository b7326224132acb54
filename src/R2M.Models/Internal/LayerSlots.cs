namespace R2M.Models;

/// <summary>Offsets of one layer's tensors in the flat buffer (-1 = absent).</summary>
internal struct LayerSlots
{
    public int Ln1W, Ln1B, QkvW, QkvB, QNormW, KNormW, OW, OB, Ln2W, Ln2B, UpW, UpB, DownW, DownB;
}

/// <summary>Offsets of the tensors outside the layers (-1 = absent).</summary>
internal struct GlobalSlots
{
    public int Embed, NormW, NormB, HeadW, HeadB;
}

/// <summary>
/// Activations of one forward pass over (B, T) tokens, kept for backward when training
/// (llm.c style: one buffer per quantity). In inference only one layer's worth is allocated.
/// </summary>
internal sealed class ActivationBuffers
{
    public ActivationBuffers(TransformerModel m, int b, int t, bool training)
    {
        var c = m.Config;
        int n = b * t, hidden = c.HiddenSize, layers = training ? c.NumLayers : 1, qd = c.NumHeads * c.HeadDim;
        int kvd = c.NumKvHeads * c.HeadDim, upW = m.UpWidth;
        B = b;
        T = t;
        Training = training;
        Tokens = new int[n];
        Positions = new int[n];
        KeyMask = new int[n];
        Resid = Alloc(training ? c.NumLayers + 1 : 2, n * hidden);
        Ln1 = Alloc(layers, n * hidden);
        Ln1Mean = Alloc(layers, n);
        Ln1Rstd = Alloc(layers, n);
        Q = Alloc(layers, n * qd);
        K = Alloc(layers, n * kvd);
        // Qwen3 q/k norm: inputs and rstd of the per-head RMSNorm, kept for backward.
        var qkNorm = training && c.QkNorm;
        QPre = qkNorm ? Alloc(layers, n * qd) : [];
        KPre = qkNorm ? Alloc(layers, n * kvd) : [];
        QRstd = qkNorm ? Alloc(layers, n * c.NumHeads) : [];
        KRstd = qkNorm ? Alloc(layers, n * c.NumKvHeads) : [];
        V = Alloc(layers, n * kvd);
        Probs = training ? Alloc(layers, b * c.NumHeads * t * t) : [];
        Atty = Alloc(layers, n * qd);
        Mid = Alloc(layers, n * hidden);
        Ln2 = Alloc(layers, n * hidden);
        Ln2Mean = Alloc(layers, n);
        Ln2Rstd = Alloc(layers, n);
        Pre = Alloc(layers, n * upW);
        H = Alloc(layers, n * c.IntermediateSize);
        Qkv = new float[n * m.QkvWidth];
        BranchOut = new float[n * hidden];
        Hidden = new float[n * hidden];
        FinalMean = new float[n];
        FinalRstd = new float[n];
        Logits = c.Head == ModelHead.CausalLm ? new float[(long)n * c.VocabSize] : [];
        Scores = c.Head == ModelHead.CausalLm ? [] : new float[b * c.NumLabels];
        ScoreIndex = new int[b];
    }

    public int B { get; }
    public int T { get; }
    public bool Training { get; }
    public int[] Tokens, Positions, ScoreIndex, KeyMask;
    public float[] Qkv, BranchOut, Hidden, FinalMean, FinalRstd, Logits, Scores;
    public float[][] Resid, Ln1, Ln1Mean, Ln1Rstd, Q, K, V, QPre, KPre, QRstd, KRstd, Probs, Atty, Mid, Ln2, Ln2Mean, Ln2Rstd, Pre, H;

    private static float[][] Alloc(int count, long size) =>
        Enumerable.Range(0, count).Select(_ => new float[size]).ToArray();
}
