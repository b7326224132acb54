using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using R2M.Tensors.Kernels;

namespace R2M.Tensors.Internal;

/// <summary>
/// One new query per sequence against its KV cache, for one (sequence, kv head): the g = nH / nKV
/// query heads of the group are the rows of one few-rows product scores (g, L) = q (g, hd) @ K^T
/// (L cached keys at the cache's row stride, <see cref="FewRowsKernel"/>), then a masked softmax per
/// row, then out (g, hd) = P @ V with the hd outputs held in registers while the L value rows stream
/// by (hd = 64 or 128; other head sizes take a span loop).
/// </summary>
internal static unsafe class DecodeAttention
{
    [ThreadStatic]
    private static float[]? t_scores;

    /// <param name="output">(B, nH, hd)</param>
    /// <param name="q">(B, nH, hd)</param>
    /// <param name="k">(B, S, nKV, hd) cache, S = capacity</param>
    /// <param name="mask">(S) of sequence b, or null</param>
    public static void Group(int b, int kvh, float* output, float* q, float* k, float* v, int* mask,
        int capacity, int length, int nHeads, int nKvHeads, int headDim)
    {
        int g = nHeads / nKvHeads, ldk = nKvHeads * headDim;
        long h0 = (long)b * nHeads + kvh * g;
        float* qg = q + h0 * headDim, og = output + h0 * headDim;
        float* kb = k + (long)b * capacity * ldk + kvh * headDim;
        float* vb = v + (long)b * capacity * ldk + kvh * headDim;
        int need = g * length;
        if (t_scores is null || t_scores.Length < need)
        {
            t_scores = GC.AllocateUninitializedArray<float>(Math.Max(need, 1024), pinned: true);
        }
        fixed (float* scores = t_scores)
        {
            new Span<float>(scores, need).Clear();
            float scale = 1f / MathF.Sqrt(headDim);
            if (Avx512F.IsSupported && headDim % 16 == 0)
            {
                for (int r = 0; r < g; r++)
                {
                    Scores(scores + (long)r * length, qg + (long)r * headDim, kb, ldk, length, headDim, scale);
                }
            }
            else
            {
                FewRowsKernel.Run<F32Load>(g, 0, length, headDim, qg, headDim, (byte*)kb, ldk, scores, length, scale);
            }
            for (int r = 0; r < g; r++)
            {
                var row = new Span<float>(scores + (long)r * length, length);
                if (mask != null)
                {
                    for (int j = 0; j < length; j++)
                    {
                        if (mask[j] == 0)
                        {
                            row[j] = float.NegativeInfinity;
                        }
                    }
                }
                Softmax.Row(row, row);
                WeightedValues(og + (long)r * headDim, scores + (long)r * length, vb, ldk, length, headDim);
            }
        }
    }

    /// <summary>
    /// scores (L) += scale * q (hd) . K[j] (L rows of stride ldk), hd a multiple of 16: sixteen keys at a
    /// time, one accumulator each, reduced together (<see cref="FewRowsKernel.Reduce16"/>), so the
    /// horizontal sums cost ~3 shuffles per key instead of a full reduction each.
    /// </summary>
    private static void Scores(float* scores, float* q, float* k, int ldk, int length, int headDim, float scale)
    {
        int j = 0;
        var vs = Vector512.Create(scale);
        for (; j + 16 <= length; j += 16)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            Vector512<float> s8 = default, s9 = default, s10 = default, s11 = default, s12 = default, s13 = default, s14 = default, s15 = default;
            float* kj = k + (long)j * ldk;
            for (int c = 0; c < headDim; c += 16)
            {
                var x = Vector512.Load(q + c);
                float* kc = kj + c;
                s0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc), s0);
                s1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + ldk), s1);
                s2 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 2 * ldk), s2);
                s3 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 3 * ldk), s3);
                s4 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 4 * ldk), s4);
                s5 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 5 * ldk), s5);
                s6 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 6 * ldk), s6);
                s7 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 7 * ldk), s7);
                s8 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 8 * ldk), s8);
                s9 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 9 * ldk), s9);
                s10 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 10 * ldk), s10);
                s11 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 11 * ldk), s11);
                s12 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 12 * ldk), s12);
                s13 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 13 * ldk), s13);
                s14 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 14 * ldk), s14);
                s15 = Vector512.FusedMultiplyAdd(x, Vector512.Load(kc + 15 * ldk), s15);
            }
            // Slot q of the reduction lands in lane 4 * (q % 4) + q / 4: feed key 4 * (q % 4) + q / 4 to slot q.
            var sum = FewRowsKernel.Reduce16(s0, s4, s8, s12, s1, s5, s9, s13, s2, s6, s10, s14, s3, s7, s11, s15);
            Vector512.FusedMultiplyAdd(sum, vs, Vector512.Load(scores + j)).Store(scores + j);
        }
        for (; j < length; j++)
        {
            Vector512<float> acc = default;
            float* kj = k + (long)j * ldk;
            for (int c = 0; c < headDim; c += 16)
            {
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(q + c), Vector512.Load(kj + c), acc);
            }
            scores[j] += scale * Vector512.Sum(acc);
        }
    }

    /// <summary>out (hd) = sum_j p[j] * v[j, :] over length rows of stride ldv.</summary>
    private static void WeightedValues(float* output, float* p, float* v, int ldv, int length, int headDim)
    {
        if (Vector512.IsHardwareAccelerated && headDim == 64)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int j = 0; j < length; j++)
            {
                var w = Vector512.Create(p[j]);
                float* row = v + (long)j * ldv;
                a0 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row), a0);
                a1 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(w, Vector512.Load(row + 48), a3);
            }
            a0.Store(output); a1.Store(output + 16); a2.Store(output + 32); a3.Store(output + 48);
            return;
        }
        if (Vector512.IsHardwareAccelerated && headDim == 128)
        {
            for (int half = 0; half < 128; half += 64)
            {
                WeightedValues(output + half, p, v + half, ldv, length, 64);
            }
            return;
        }
        var o = new Span<float>(output, headDim);
        o.Clear();
        for (int j = 0; j < length; j++)
        {
            if (p[j] != 0f)
            {
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + (long)j * ldv, headDim), p[j], o, o);
            }
        }
    }
}
