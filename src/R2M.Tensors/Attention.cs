using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// Causal multi-head self-attention with a key padding mask and grouped-query heads (docs/specs.md
/// section 3): scores = q k^T / sqrt(headDim), query t sees keys j &lt;= t whose keyMask is nonzero,
/// softmax in fp32, times v. Query head h reads kv head h / (nHeads / nKvHeads).
/// Layouts (row-major): q, output (B,T,nHeads,headDim); k, v (B,T,nKvHeads,headDim);
/// probs (B,nHeads,T,T); keyMask (B,T) with 1 = real token, 0 = padding (empty = no padding).
/// A query row with no visible key (e.g. a left-padding position) gets all-zero probabilities and a
/// zero output instead of NaN; HF produces arbitrary values there, so compare only real positions.
/// Work is parallel over (batch, head); each task runs the managed GEMM single-threaded on 64-query
/// blocks, so the causal upper triangle is mostly skipped. With a KV cache (<see cref="ForwardCached"/>,
/// <see cref="DecodeStep"/>) k and v are (B,S,nKV,hd) with S = capacity and the queries continue at
/// position `past`; a single query takes a dot-product path instead of the GEMM blocks.
/// </summary>
public static unsafe class Attention
{
    private const int QueryBlock = 64;

    /// <summary>
    /// output (B,T,nH,hd) = attention(q (B,T,nH,hd), k (B,T,nKV,hd), v (B,T,nKV,hd)); probs (B,nH,T,T)
    /// saved for Backward (empty to skip, e.g. inference); keyMask (B,T) or empty.
    /// </summary>
    public static void Forward(Span<float> output, Span<float> probs, ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<int> keyMask, int batch, int seqLen, int nHeads, int nKvHeads, int headDim)
    {
        Validate(batch, seqLen, nHeads, nKvHeads, headDim);
        Check.LenOpt(probs.Length, (long)batch * nHeads * seqLen * seqLen, nameof(probs), "(B,nH,T,T)");
        var s = new Shape(batch, seqLen, seqLen, 0, nHeads, nKvHeads, headDim);
        CheckForward(s, output, q, k, v, keyMask, "T");
        Run(s, output, probs, q, k, v, keyMask);
    }

    /// <summary>
    /// Attention of new queries against a KV cache (prefill continuation or decode of several tokens):
    /// q (B,Tq,nH,hd) are positions [past, past+Tq) of every sequence; kCache, vCache (B,S,nKV,hd),
    /// S = capacity, already hold keys/values of positions [0, past+Tq); query i sees cache
    /// positions j &lt;= past + i whose keyMask (B,S) is nonzero (empty = no padding).
    /// output (B,Tq,nH,hd). Nothing is saved for a backward (inference only).
    /// </summary>
    public static void ForwardCached(Span<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache,
        ReadOnlySpan<float> vCache, ReadOnlySpan<int> keyMask, int batch, int queries, int capacity, int past,
        int nHeads, int nKvHeads, int headDim)
    {
        Validate(batch, queries, nHeads, nKvHeads, headDim);
        if (past < 0 || (long)past + queries > capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(past), past, $"past + queries ({queries}) must lie in [0, capacity={capacity}]");
        }
        var s = new Shape(batch, queries, capacity, past, nHeads, nKvHeads, headDim);
        CheckForward(s, output, q, kCache, vCache, keyMask, "S");
        Run(s, output, default, q, kCache, vCache, keyMask);
    }

    private static void CheckForward(Shape s, ReadOnlySpan<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<int> keyMask, string kvLen)
    {
        long qSize = (long)s.B * s.T * s.NH * s.Hd, kvSize = (long)s.B * s.S * s.NKV * s.Hd;
        Check.Len(output.Length, qSize, nameof(output), "(B,T,nH,hd)");
        Check.Len(q.Length, qSize, nameof(q), "(B,T,nH,hd)");
        Check.Len(k.Length, kvSize, nameof(k), $"(B,{kvLen},nKV,hd)");
        Check.Len(v.Length, kvSize, nameof(v), $"(B,{kvLen},nKV,hd)");
        Check.LenOpt(keyMask.Length, (long)s.B * s.S, nameof(keyMask), $"(B,{kvLen})");
    }

    /// <summary>Parallel over (batch, head); one query goes the decode route, more the blocked GEMM route.</summary>
    private static void Run(Shape s, Span<float> output, Span<float> probs, ReadOnlySpan<float> q, ReadOnlySpan<float> k,
        ReadOnlySpan<float> v, ReadOnlySpan<int> keyMask)
    {
        bool saveProbs = probs.Length > 0, hasMask = keyMask.Length > 0;
        int keysTotal = s.Past + s.T;
        fixed (float* po = output, pp = probs, pq = q, pk = k, pv = v)
        fixed (int* pm = keyMask)
        {
            nint o = (nint)po, p = (nint)pp, qq = (nint)pq, kk = (nint)pk, vv = (nint)pv, m = (nint)pm;
            if (s.T == 1 && !saveProbs)
            {
                // One query per sequence: (batch, kv head) tasks, the group's query heads together.
                Par.For(s.B * s.NKV, (long)keysTotal * s.Hd * 2 * (s.NH / s.NKV), (t0, t1) =>
                {
                    for (int task = t0; task < t1; task++)
                    {
                        int b = task / s.NKV;
                        DecodeAttention.Group(b, task % s.NKV, (float*)o, (float*)qq, (float*)kk, (float*)vv,
                            hasMask ? (int*)m + (long)b * s.S : null, s.S, keysTotal, s.NH, s.NKV, s.Hd);
                    }
                });
                return;
            }
            Par.For(s.B * s.NH, (long)s.T * keysTotal * s.Hd * 2, (t0, t1) =>
            {
                float[] scratch = saveProbs ? [] : new float[Math.Min(QueryBlock, s.T) * keysTotal];
                for (int task = t0; task < t1; task++)
                {
                    int b = task / s.NH, h = task % s.NH;
                    int* mask = hasMask ? (int*)m + (long)b * s.S : null;
                    ForwardHead(s, b, h, (float*)o, saveProbs ? (float*)p : null, scratch, (float*)qq, (float*)kk, (float*)vv, mask);
                }
            });
        }
    }

    /// <summary>
    /// One (batch, head): blocks of 64 queries; scores only against the keys a block can see
    /// (past + block end), so the causal upper triangle is skipped.
    /// </summary>
    private static void ForwardHead(Shape s, int b, int h, float* output, float* probs, float[] scratch,
        float* q, float* k, float* v, int* mask)
    {
        int T = s.T, hd = s.Hd, kvh = h / (s.NH / s.NKV), keysTotal = s.Past + T;
        int ldq = s.NH * hd, ldk = s.NKV * hd;
        float scale = 1f / MathF.Sqrt(hd);
        float* qh = q + (long)b * T * ldq + h * hd;
        float* kh = k + (long)b * s.S * ldk + kvh * hd;
        float* vh = v + (long)b * s.S * ldk + kvh * hd;
        float* oh = output + (long)b * T * ldq + h * hd;
        fixed (float* ps = scratch)
        {
            for (int t0 = 0; t0 < T; t0 += QueryBlock)
            {
                int qb = Math.Min(QueryBlock, T - t0), keys = s.Past + t0 + qb;
                // P rows for this block: the saved (T,T) slab (past = 0) or the scratch, row stride keysTotal.
                float* pBlock = probs != null ? probs + ((long)(b * s.NH + h) * T + t0) * keysTotal : ps;
                Gemm1(false, true, qb, keys, hd, scale, qh + (long)t0 * ldq, ldq, kh, ldk, 0f, pBlock, keysTotal);
                for (int r = 0; r < qb; r++)
                {
                    MaskedSoftmaxRow(new Span<float>(pBlock + (long)r * keysTotal, keysTotal), s.Past + t0 + r + 1, mask);
                }
                Gemm1(false, false, qb, hd, keys, 1f, pBlock, keysTotal, vh, ldk, 0f, oh + (long)t0 * ldq, ldq);
            }
        }
    }

    /// <summary>row (T): entries [0,visible) are scores, masked ones become -inf; the rest become 0.</summary>
    private static void MaskedSoftmaxRow(Span<float> row, int visible, int* mask)
    {
        var live = row[..visible];
        if (mask != null)
        {
            for (int j = 0; j < visible; j++)
            {
                if (mask[j] == 0)
                {
                    live[j] = float.NegativeInfinity;
                }
            }
        }
        Softmax.Row(live, live);
        row[visible..].Clear();
    }

    /// <summary>
    /// Accumulates dq (B,T,nH,hd) +=, dk (B,T,nKV,hd) +=, dv (B,T,nKV,hd) +=, given doutput (B,T,nH,hd),
    /// probs (B,nH,T,T) from Forward, and the forward q, k, v. Parallel over (batch, kv head) so the
    /// query heads sharing a kv head never race on dk/dv.
    /// </summary>
    public static void Backward(Span<float> dq, Span<float> dk, Span<float> dv, ReadOnlySpan<float> doutput,
        ReadOnlySpan<float> probs, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        int batch, int seqLen, int nHeads, int nKvHeads, int headDim)
    {
        Validate(batch, seqLen, nHeads, nKvHeads, headDim);
        long qSize = (long)batch * seqLen * nHeads * headDim, kvSize = (long)batch * seqLen * nKvHeads * headDim;
        Check.Len(dq.Length, qSize, nameof(dq), "(B,T,nH,hd)");
        Check.Len(dk.Length, kvSize, nameof(dk), "(B,T,nKV,hd)");
        Check.Len(dv.Length, kvSize, nameof(dv), "(B,T,nKV,hd)");
        Check.Len(doutput.Length, qSize, nameof(doutput), "(B,T,nH,hd)");
        Check.Len(probs.Length, (long)batch * nHeads * seqLen * seqLen, nameof(probs), "(B,nH,T,T)");
        Check.Len(q.Length, qSize, nameof(q), "(B,T,nH,hd)");
        Check.Len(k.Length, kvSize, nameof(k), "(B,T,nKV,hd)");
        Check.Len(v.Length, kvSize, nameof(v), "(B,T,nKV,hd)");
        var s = new Shape(batch, seqLen, seqLen, 0, nHeads, nKvHeads, headDim);
        fixed (float* pdq = dq, pdk = dk, pdv = dv, pdo = doutput, pp = probs, pq = q, pk = k, pv = v)
        {
            var ptrs = new BackwardPointers((nint)pdq, (nint)pdk, (nint)pdv, (nint)pdo, (nint)pp, (nint)pq, (nint)pk, (nint)pv);
            Par.For(batch * nKvHeads, (long)seqLen * seqLen * headDim * 8 * (nHeads / nKvHeads), (t0, t1) =>
            {
                var dP = new float[QueryBlock * seqLen];
                for (int task = t0; task < t1; task++)
                {
                    BackwardKvGroup(s, task / nKvHeads, task % nKvHeads, ptrs, dP);
                }
            });
        }
    }

    private readonly record struct BackwardPointers(nint Dq, nint Dk, nint Dv, nint Do, nint P, nint Q, nint K, nint V);

    private static void BackwardKvGroup(Shape s, int b, int kvh, BackwardPointers p, float[] dPBuffer)
    {
        int T = s.T, hd = s.Hd, group = s.NH / s.NKV;
        int ldq = s.NH * hd, ldk = s.NKV * hd;
        float scale = 1f / MathF.Sqrt(hd);
        long kvBase = (long)b * T * ldk + kvh * hd;
        float* kh = (float*)p.K + kvBase, vh = (float*)p.V + kvBase;
        float* dkh = (float*)p.Dk + kvBase, dvh = (float*)p.Dv + kvBase;
        fixed (float* dP = dPBuffer)
        {
            for (int h = kvh * group; h < (kvh + 1) * group; h++)
            {
                long qBase = (long)b * T * ldq + h * hd;
                for (int t0 = 0; t0 < T; t0 += QueryBlock)
                {
                    int qb = Math.Min(QueryBlock, T - t0), keys = t0 + qb;
                    float* P = (float*)p.P + ((long)(b * s.NH + h) * T + t0) * T;
                    float* dO = (float*)p.Do + qBase + (long)t0 * ldq;
                    float* qh = (float*)p.Q + qBase + (long)t0 * ldq;
                    float* dqh = (float*)p.Dq + qBase + (long)t0 * ldq;
                    // dP = dO V^T; dV += P^T dO
                    Gemm1(false, true, qb, keys, hd, 1f, dO, ldq, vh, ldk, 0f, dP, keys);
                    Gemm1(true, false, keys, hd, qb, 1f, P, T, dO, ldq, 1f, dvh, ldk);
                    // dS = P * (dP - rowdot(dP, P)) * scale, written over dP
                    for (int r = 0; r < qb; r++)
                    {
                        var pr = new ReadOnlySpan<float>(P + (long)r * T, keys);
                        var dr = new Span<float>(dP + (long)r * keys, keys);
                        float dot = TensorPrimitives.Dot(pr, dr);
                        TensorPrimitives.Subtract(dr, dot, dr);
                        TensorPrimitives.Multiply(dr, pr, dr);
                        TensorPrimitives.Multiply(dr, scale, dr);
                    }
                    // dQ += dS K; dK += dS^T Q
                    Gemm1(false, false, qb, hd, keys, 1f, dP, keys, kh, ldk, 1f, dqh, ldq);
                    Gemm1(true, false, keys, hd, qb, 1f, dP, keys, qh, ldq, 1f, dkh, ldk);
                }
            }
        }
    }

    /// <summary>
    /// One decode step: each sequence's single new query attends to its KV cache.
    /// output (B,nH,hd); q (B,nH,hd); kCache, vCache (B,S,nKV,hd) with S = capacity; the first
    /// `length` cache positions are attended (the new token's k/v must already be written at
    /// length-1); keyMask (B,S) or empty, 1 = real token (masks left padding of the prompt).
    /// </summary>
    public static void DecodeStep(Span<float> output, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache,
        ReadOnlySpan<float> vCache, ReadOnlySpan<int> keyMask, int batch, int capacity, int length,
        int nHeads, int nKvHeads, int headDim)
    {
        Validate(batch, capacity, nHeads, nKvHeads, headDim);
        if (length < 0 || length > capacity)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length must be in [0, capacity={capacity}]");
        }
        long qSize = (long)batch * nHeads * headDim, cacheSize = (long)batch * capacity * nKvHeads * headDim;
        Check.Len(output.Length, qSize, nameof(output), "(B,nH,hd)");
        Check.Len(q.Length, qSize, nameof(q), "(B,nH,hd)");
        Check.Len(kCache.Length, cacheSize, nameof(kCache), "(B,S,nKV,hd)");
        Check.Len(vCache.Length, cacheSize, nameof(vCache), "(B,S,nKV,hd)");
        Check.LenOpt(keyMask.Length, (long)batch * capacity, nameof(keyMask), "(B,S)");
        if (length == 0)
        {
            output[..(int)qSize].Clear();
            return;
        }
        Run(new Shape(batch, 1, capacity, length - 1, nHeads, nKvHeads, headDim), output, default, q, kCache, vCache, keyMask);
    }

    /// <summary>T queries at positions [Past, Past+T); k/v hold S rows per sequence (S = T for training).</summary>
    private readonly record struct Shape(int B, int T, int S, int Past, int NH, int NKV, int Hd);

    private static void Validate(int batch, int seqLen, int nHeads, int nKvHeads, int headDim)
    {
        Check.Dims(batch, nameof(batch));
        Check.Dims(seqLen, nameof(seqLen));
        if (nHeads < 1) throw new ArgumentOutOfRangeException(nameof(nHeads), nHeads, "nHeads must be >= 1");
        if (nKvHeads < 1 || nHeads % nKvHeads != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(nKvHeads), nKvHeads, $"nKvHeads must divide nHeads={nHeads}");
        }
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "headDim must be >= 1");
    }

    /// <summary>Single-threaded managed GEMM on raw pointers (inside an already-parallel task).</summary>
    private static void Gemm1(bool ta, bool tb, int m, int n, int kk, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        long aLen = (long)((ta ? kk : m) - 1) * lda + (ta ? m : kk);
        long bLen = (long)((tb ? n : kk) - 1) * ldb + (tb ? kk : n);
        long cLen = (long)(m - 1) * ldc + n;
        ManagedGemm.Run(ta, tb, m, n, kk, alpha, new ReadOnlySpan<float>(a, (int)aLen), lda,
            new ReadOnlySpan<float>(b, (int)bLen), ldb, beta, new Span<float>(c, (int)cLen), ldc, 1);
    }
}
