using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>Token embedding lookup: out[n, :] = table[ids[n], :].</summary>
public static unsafe class Embedding
{
    /// <summary>output (N,C) = table (V,C) rows picked by ids (N); every id must lie in [0,V).</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<int> ids, ReadOnlySpan<float> table, int rows, int channels, int vocab)
    {
        CheckArgs(output.Length, nameof(output), ids, table.Length, nameof(table), rows, channels, vocab);
        for (int n = 0; n < rows; n++)
        {
            table.Slice(ids[n] * channels, channels).CopyTo(output.Slice(n * channels, channels));
        }
    }

    /// <summary>dtable (V,C) += scatter of doutput (N,C) rows at ids (N). Repeated ids accumulate.</summary>
    public static void Backward(Span<float> dtable, ReadOnlySpan<float> doutput, ReadOnlySpan<int> ids, int rows, int channels, int vocab)
    {
        CheckArgs(doutput.Length, nameof(doutput), ids, dtable.Length, nameof(dtable), rows, channels, vocab);
        for (int n = 0; n < rows; n++)
        {
            var dst = dtable.Slice(ids[n] * channels, channels);
            TensorPrimitives.Add(dst, doutput.Slice(n * channels, channels), dst);
        }
    }

    private static void CheckArgs(int rowsLen, string rowsName, ReadOnlySpan<int> ids, int tableLen, string tableName,
        int rows, int channels, int vocab)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(channels, nameof(channels));
        Check.Dims(vocab, nameof(vocab));
        Check.Len(rowsLen, (long)rows * channels, rowsName, "(N,C)");
        Check.Len(tableLen, (long)vocab * channels, tableName, "(V,C)");
        Check.Len(ids.Length, rows, nameof(ids), "(N)");
        for (int n = 0; n < rows; n++)
        {
            if ((uint)ids[n] >= (uint)vocab)
            {
                throw new ArgumentException($"ids[{n}] = {ids[n]} is outside the vocabulary [0, {vocab})", nameof(ids));
            }
        }
    }
}

/// <summary>Residual connection: out = a + b.</summary>
public static class Residual
{
    /// <summary>output (n) = a (n) + b (n); output may alias a or b.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(output.Length, count, nameof(output), "(n)");
        Check.Len(a.Length, count, nameof(a), "(n)");
        Check.Len(b.Length, count, nameof(b), "(n)");
        TensorPrimitives.Add(a[..count], b[..count], output);
    }

    /// <summary>da (n) += doutput (n); db (n) += doutput (n). Either may be empty to skip it.</summary>
    public static void Backward(Span<float> da, Span<float> db, ReadOnlySpan<float> doutput, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(doutput.Length, count, nameof(doutput), "(n)");
        Check.LenOpt(da.Length, count, nameof(da), "(n)");
        Check.LenOpt(db.Length, count, nameof(db), "(n)");
        var dy = doutput[..count];
        if (da.Length > 0)
        {
            TensorPrimitives.Add(da[..count], dy, da);
        }
        if (db.Length > 0)
        {
            TensorPrimitives.Add(db[..count], dy, db);
        }
    }
}
