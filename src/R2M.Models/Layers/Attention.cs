using System.Numerics.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// Causal multi-head attention with a key padding mask and grouped KV heads (query head h reads
/// kv head h / (nH/nKV), REFERENCE.md section 3, Llama). Queries are the last Tq of Tk = P + Tq
/// positions (P = positions already in a KV cache); query i may attend key j when j &lt;= P + i and
/// the key is not padding. A row with no key to attend gets all-zero probabilities and output.
/// </summary>
internal static unsafe class Attention
{
    /// <param name="q">(B, nH, Tq, hd), rotary already applied</param>
    /// <param name="k">(B, nKV, S, hd), positions [0, P+Tq) filled</param>
    /// <param name="v">(B, nKV, S, hd)</param>
    /// <param name="keyMask">(B, S) 1 = real token, 0 = padding; empty = no padding</param>
    /// <param name="probs">(B, nH, Tq, Tk) kept for backward, or empty to use scratch</param>
    /// <param name="output">(B, Tq, nH*hd) heads merged</param>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> keyMask,
        Span<float> probs, Span<float> output, int b, int nH, int nKV, int tq, int past, int s, int hd)
    {
        var tk = past + tq;
        var scale = 1f / MathF.Sqrt(hd);
        var group = nH / nKV;
        if (tq <= 16 && probs.IsEmpty)
        {
            ForwardSmall(q, k, v, keyMask, output, b, nH, nKV, tq, past, s, hd);
            return;
        }
        var scratch = probs.IsEmpty ? new float[tq * tk] : null;
        for (var bi = 0; bi < b; bi++)
            for (var h = 0; h < nH; h++)
            {
                var g = h / group;
                var p = scratch is null ? probs.Slice(((bi * nH + h) * tq) * tk, tq * tk) : scratch.AsSpan();
                var qh = q.Slice((bi * nH + h) * tq * hd, tq * hd);
                var kh = k.Slice((bi * nKV + g) * s * hd, tk * hd);
                var vh = v.Slice((bi * nKV + g) * s * hd, tk * hd);
                Blas.Sgemm(false, true, tq, tk, hd, scale, qh, hd, kh, hd, 0f, p, tk);
                var mask = keyMask.IsEmpty ? keyMask : keyMask.Slice(bi * s, tk);
                SoftmaxRows(p, mask, tq, tk, past);
                var o = output.Slice(bi * tq * nH * hd + h * hd, (tq - 1) * nH * hd + hd);
                Blas.Sgemm(false, false, tq, hd, tk, 1f, p, tk, vh, hd, 0f, o, nH * hd);
            }
    }

    /// <summary>Masked stable softmax of each row of p (Tq, Tk) in place.</summary>
    private static void SoftmaxRows(Span<float> p, ReadOnlySpan<float> mask, int tq, int tk, int past)
    {
        fixed (float* pp = p, pm = mask)
        {
            nint pP = (nint)pp, mP = (nint)pm;
            var hasMask = !mask.IsEmpty;
            Par.For(tq, (lo, hi) =>
            {
                for (var i = lo; i < hi; i++)
                {
                    var row = new Span<float>((float*)pP + (long)i * tk, tk);
                    var m = hasMask ? new ReadOnlySpan<float>((float*)mP, tk) : default;
                    MaskedSoftmax(row, m, past + i + 1);
                }
            }, 32);
        }
    }

    /// <summary>Softmax over row[0, limit) skipping masked keys; the rest of the row becomes 0.</summary>
    public static void MaskedSoftmax(Span<float> row, ReadOnlySpan<float> mask, int limit)
    {
        var max = float.NegativeInfinity;
        for (var j = 0; j < limit; j++)
            if ((mask.IsEmpty || mask[j] != 0) && row[j] > max)
                max = row[j];
        if (float.IsNegativeInfinity(max))
        {
            row.Clear();
            return;
        }
        var live = row[..limit];
        TensorPrimitives.Subtract(live, max, live);
        TensorPrimitives.Exp(live, live);
        if (!mask.IsEmpty)
            TensorPrimitives.Multiply(live, mask[..limit], live);
        TensorPrimitives.Divide(live, TensorPrimitives.Sum(live), live);
        row[limit..].Clear();
    }

    /// <summary>Few queries (decode): dot products per key, parallel over (batch, head).</summary>
    private static void ForwardSmall(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> keyMask,
        Span<float> output, int b, int nH, int nKV, int tq, int past, int s, int hd)
    {
        var tk = past + tq;
        var scale = 1f / MathF.Sqrt(hd);
        var group = nH / nKV;
        fixed (float* pq = q, pk = k, pv = v, pm = keyMask, po = output)
        {
            nint qP = (nint)pq, kP = (nint)pk, vP = (nint)pv, mP = (nint)pm, oP = (nint)po;
            var hasMask = !keyMask.IsEmpty;
            Par.For(b * nH, (lo, hi) =>
            {
                var scores = new float[tk];
                for (var bh = lo; bh < hi; bh++)
                {
                    int bi = bh / nH, h = bh % nH, g = h / group;
                    var kb = (float*)kP + (long)(bi * nKV + g) * s * hd;
                    var vb = (float*)vP + (long)(bi * nKV + g) * s * hd;
                    var mask = hasMask ? new ReadOnlySpan<float>((float*)mP + (long)bi * s, tk) : default;
                    for (var i = 0; i < tq; i++)
                    {
                        var qi = new ReadOnlySpan<float>((float*)qP + ((long)(bi * nH + h) * tq + i) * hd, hd);
                        var limit = past + i + 1;
                        for (var j = 0; j < limit; j++)
                            scores[j] = scale * TensorPrimitives.Dot(qi, new ReadOnlySpan<float>(kb + (long)j * hd, hd));
                        MaskedSoftmax(scores.AsSpan(0, tk), mask, limit);
                        var o = new Span<float>((float*)oP + ((long)(bi * tq + i) * nH + h) * hd, hd);
                        o.Clear();
                        for (var j = 0; j < limit; j++)
                            if (scores[j] != 0)
                                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(vb + (long)j * hd, hd), scores[j], o, o);
                    }
                }
            }, 1);
        }
    }

    /// <summary>
    /// Backward of a full (P = 0) forward: dq overwritten, dk and dv accumulated.
    /// dS = P * (dP - rowsum(dP * P)); dQ = scale dS K; dK += scale dS^T Q; dV += P^T dO.
    /// </summary>
    /// <param name="dout">(B, T, nH*hd)</param>
    /// <param name="probs">(B, nH, T, T)</param>
    /// <param name="dq">(B, nH, T, hd)</param>
    /// <param name="dk">(B, nKV, T, hd)</param>
    /// <param name="dv">(B, nKV, T, hd)</param>
    public static void Backward(ReadOnlySpan<float> dout, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> probs, Span<float> dq, Span<float> dk, Span<float> dv, int b, int nH, int nKV, int t, int hd)
    {
        var scale = 1f / MathF.Sqrt(hd);
        var group = nH / nKV;
        var dp = new float[t * t];
        for (var bi = 0; bi < b; bi++)
            for (var h = 0; h < nH; h++)
            {
                var g = h / group;
                var p = probs.Slice((bi * nH + h) * t * t, t * t);
                var dO = dout.Slice(bi * t * nH * hd + h * hd, (t - 1) * nH * hd + hd);
                var qh = q.Slice((bi * nH + h) * t * hd, t * hd);
                var kh = k.Slice((bi * nKV + g) * t * hd, t * hd);
                var vh = v.Slice((bi * nKV + g) * t * hd, t * hd);
                Blas.Sgemm(false, true, t, t, hd, 1f, dO, nH * hd, vh, hd, 0f, dp, t);
                Blas.Sgemm(true, false, t, hd, t, 1f, p, t, dO, nH * hd, 1f, dv.Slice((bi * nKV + g) * t * hd, t * hd), hd);
                for (var i = 0; i < t; i++)
                {
                    var pr = p.Slice(i * t, t);
                    var dr = dp.AsSpan(i * t, t);
                    var dot = TensorPrimitives.Dot(pr, dr);
                    TensorPrimitives.Subtract(dr, dot, dr);
                    TensorPrimitives.Multiply(dr, pr, dr);
                }
                Blas.Sgemm(false, false, t, hd, t, scale, dp, t, kh, hd, 0f, dq.Slice((bi * nH + h) * t * hd, t * hd), hd);
                Blas.Sgemm(true, false, t, hd, t, scale, dp, t, qh, hd, 1f, dk.Slice((bi * nKV + g) * t * hd, t * hd), hd);
            }
    }
}
