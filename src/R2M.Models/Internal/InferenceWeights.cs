using R2M.Tensors;

namespace R2M.Models;

/// <summary>
/// The inference copy of a model's matrices at a stored precision: per layer the fused qkv, the
/// attention output, the (fused) first and the second MLP projection, plus the causal-LM head.
/// Each matrix spans a contiguous range of <see cref="TransformerModel.Parameters"/> (Llama's
/// q/k/v and gate/up tensors are adjacent there), so a checkpoint tensor maps to a row range of
/// one matrix by its offset. Embeddings, norms, biases and classification heads stay f32.
/// </summary>
internal sealed class InferenceWeights
{
    private readonly List<(long Offset, WeightMatrix Matrix)> _byOffset = [];

    public InferenceWeights(TransformerModel model, LayerSlots[] layers, GlobalSlots globals, WeightPrecision precision)
    {
        var c = model.Config;
        int hid = c.HiddenSize, qd = c.NumHeads * c.HeadDim;
        Precision = precision;
        Qkv = new WeightMatrix[layers.Length];
        O = new WeightMatrix[layers.Length];
        Up = new WeightMatrix[layers.Length];
        Down = new WeightMatrix[layers.Length];
        for (var l = 0; l < layers.Length; l++)
        {
            Qkv[l] = Add(layers[l].QkvW, model.QkvWidth, hid);
            O[l] = Add(layers[l].OW, hid, qd);
            Up[l] = Add(layers[l].UpW, model.UpWidth, hid);
            Down[l] = Add(layers[l].DownW, hid, c.IntermediateSize);
        }
        if (c.Head == ModelHead.CausalLm)
        {
            Head = new WeightMatrix(c.VocabSize, hid, precision);
            HeadOffset = globals.HeadW;
            // A tied head shares the embedding table, which stays f32 for the gather: the head is a copy.
            HeadTied = globals.HeadW == globals.Embed;
            if (!HeadTied)
                _byOffset.Add((globals.HeadW, Head));
        }
    }

    public WeightPrecision Precision { get; }
    public WeightMatrix[] Qkv { get; }
    public WeightMatrix[] O { get; }
    public WeightMatrix[] Up { get; }
    public WeightMatrix[] Down { get; }

    /// <summary>(V, C) LM head, null for classification heads.</summary>
    public WeightMatrix? Head { get; }

    public int HeadOffset { get; }

    public bool HeadTied { get; }

    private WeightMatrix Add(int offset, int rows, int cols)
    {
        var m = new WeightMatrix(rows, cols, Precision);
        _byOffset.Add((offset, m));
        return m;
    }

    /// <summary>Every matrix copied (rounded) from the f32 parameters.</summary>
    public void CopyFrom(float[] parameters)
    {
        foreach (var (offset, m) in _byOffset)
            m.CopyFrom(parameters.AsSpan((int)offset, m.Rows * m.Cols));
        if (HeadTied)
            Head!.CopyFrom(parameters.AsSpan(HeadOffset, Head.Rows * Head.Cols));
    }

    /// <summary>
    /// The matrix holding parameter elements [offset, offset + size) and the element index they start
    /// at, or null when the tensor is not (part of) an inference matrix.
    /// </summary>
    public (WeightMatrix Matrix, long Start)? Find(long offset, long size)
    {
        foreach (var (o, m) in _byOffset)
            if (offset >= o && offset + size <= o + (long)m.Rows * m.Cols)
                return (m, offset - o);
        return null;
    }
}
