namespace R2M.Models;

/// <summary>
/// Keys and values of every layer for a batch of sequences being extended, (B, S, nKV, hd) per
/// layer with S = <see cref="Capacity"/>, plus the key padding mask and each row's next position.
/// Create with <see cref="TransformerModel.CreateCache"/>.
/// </summary>
public sealed class KvCache
{
    internal KvCache(ModelConfig c, int batch, int capacity)
    {
        Batch = batch;
        Capacity = capacity;
        var size = (long)batch * c.NumKvHeads * capacity * c.HeadDim;
        K = Enumerable.Range(0, c.NumLayers).Select(_ => new float[size]).ToArray();
        V = Enumerable.Range(0, c.NumLayers).Select(_ => new float[size]).ToArray();
        KeyMask = new int[batch * capacity];
        NextPosition = new int[batch];
    }

    public int Batch { get; }

    /// <summary>Maximum number of positions (prompt + generated).</summary>
    public int Capacity { get; }

    /// <summary>Positions filled so far (same for every row; padding counts).</summary>
    public int Length { get; internal set; }

    internal float[][] K { get; }
    internal float[][] V { get; }

    /// <summary>(B, S) 1 = real token.</summary>
    internal int[] KeyMask { get; }

    /// <summary>(B) position id the next real token of each row gets.</summary>
    internal int[] NextPosition { get; }

    /// <summary>Empties the cache for reuse.</summary>
    public void Reset()
    {
        Length = 0;
        Array.Clear(KeyMask);
        Array.Clear(NextPosition);
    }
}
