using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace R2M.Tensors.Kernels;

/// <summary>
/// c(m, n) += alpha * a(m, k) @ w(n, k)^T for few rows (m &lt;= 16: a decode step's x W^T), with w
/// row-major in any <see cref="IWeightLoad"/> format. The product is memory-bound: each weight row is
/// read once from memory and used for every row of a. Weight rows go in pairs; for each pair every
/// tile of up to 8 rows of a runs its 16 (rows x 2) dot products at once in zmm accumulators (one
/// 16-lane FMA per row and weight row per 16 k), so the pair is read from L1 by all tiles. The rows of
/// a (at most 16 x k floats, 192 KiB at k = 3072) stay in L2; no k blocking is needed because nothing
/// is written back until the end. Partial sums are reduced horizontally once per (row, weight row).
/// </summary>
internal static unsafe class FewRowsKernel
{
    /// <summary>Largest m this kernel is meant for (Gemm routes m &lt;= MaxRows here).</summary>
    public const int MaxRows = 16;

    /// <summary>How many weight-row pairs ahead the kernel prefetches (software prefetch beats the hardware one on this stream).</summary>
    private const int PrefetchPairs = 8;

    /// <summary>Weight rows [j0, j1) of the product: c[i, j] += alpha * dot(a row i, w row j), i &lt; m.</summary>
    public static void Run<TL>(int m, int j0, int j1, int k, float* a, int lda, byte* w, long ldw, float* c, int ldc, float alpha)
        where TL : IWeightLoad
    {
        long rowBytes = ldw * TL.Size;
        for (int j = j0; j < j1; j += 2)
        {
            bool pair = j + 1 < j1;
            byte* w0 = w + j * rowBytes;
            byte* w1 = pair ? w0 + rowBytes : w0;
            // The first tile prefetches the pair PrefetchPairs ahead, so the stream is in flight while we compute.
            byte* pf = j + 2 * PrefetchPairs < j1 ? w0 + 2 * PrefetchPairs * rowBytes : null;
            for (int i = 0; i < m; i += 8, pf = null)
            {
                float* ai = a + (long)i * lda;
                float* ci = c + (long)i * ldc + j;
                switch (Math.Min(8, m - i))
                {
                    case 8: Tile<TL, R8>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 7: Tile<TL, R7>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 6: Tile<TL, R6>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 5: Tile<TL, R5>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 4: Tile<TL, R4>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 3: Tile<TL, R3>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    case 2: Tile<TL, R2>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                    default: Tile<TL, R1>(k, ai, lda, w0, w1, ci, ldc, alpha, pair, pf, rowBytes); break;
                }
            }
        }
    }

    /// <summary>
    /// Scalar twin: c(m, n) += alpha * a(m, k) @ w(n, k)^T with w given as f32, summed in k order
    /// with one FMA per step (the SIMD kernel sums 16 lanes, then reduces; results agree closely).
    /// </summary>
    public static void Scalar(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> w, int ldw,
        Span<float> c, int ldc, float alpha)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                for (int p = 0; p < k; p++)
                {
                    acc = MathF.FusedMultiplyAdd(a[i * lda + p], w[j * ldw + p], acc);
                }
                c[i * ldc + j] = MathF.FusedMultiplyAdd(alpha, acc, c[i * ldc + j]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TL, TR>(int k, float* a, int lda, byte* w0, byte* w1, float* c, int ldc, float alpha, bool pair,
        byte* prefetch, long rowBytes)
        where TL : IWeightLoad
        where TR : IRows
    {
        Vector512<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default;
        Vector512<float> s30 = default, s31 = default, s40 = default, s41 = default, s50 = default, s51 = default;
        Vector512<float> s60 = default, s61 = default, s70 = default, s71 = default;
        int n = TR.N, size = TL.Size;
        int p = 0;
        for (; p <= k - 16; p += 16)
        {
            if (prefetch != null && Sse.IsSupported)
            {
                // 16 elements of each of the two rows: 64 bytes (f32) or 32 (16-bit) per row per step.
                Sse.Prefetch0(prefetch + (long)p * size);
                Sse.Prefetch0(prefetch + rowBytes + (long)p * size);
            }
            var v0 = TL.Load16(w0 + (long)p * size);
            var v1 = TL.Load16(w1 + (long)p * size);
            float* x = a + p;
            var xr = Vector512.Load(x);
            s00 = Vector512.FusedMultiplyAdd(xr, v0, s00); s01 = Vector512.FusedMultiplyAdd(xr, v1, s01);
            if (n > 1) { xr = Vector512.Load(x + lda); s10 = Vector512.FusedMultiplyAdd(xr, v0, s10); s11 = Vector512.FusedMultiplyAdd(xr, v1, s11); }
            if (n > 2) { xr = Vector512.Load(x + 2 * lda); s20 = Vector512.FusedMultiplyAdd(xr, v0, s20); s21 = Vector512.FusedMultiplyAdd(xr, v1, s21); }
            if (n > 3) { xr = Vector512.Load(x + 3 * lda); s30 = Vector512.FusedMultiplyAdd(xr, v0, s30); s31 = Vector512.FusedMultiplyAdd(xr, v1, s31); }
            if (n > 4) { xr = Vector512.Load(x + 4 * lda); s40 = Vector512.FusedMultiplyAdd(xr, v0, s40); s41 = Vector512.FusedMultiplyAdd(xr, v1, s41); }
            if (n > 5) { xr = Vector512.Load(x + 5 * lda); s50 = Vector512.FusedMultiplyAdd(xr, v0, s50); s51 = Vector512.FusedMultiplyAdd(xr, v1, s51); }
            if (n > 6) { xr = Vector512.Load(x + 6 * lda); s60 = Vector512.FusedMultiplyAdd(xr, v0, s60); s61 = Vector512.FusedMultiplyAdd(xr, v1, s61); }
            if (n > 7) { xr = Vector512.Load(x + 7 * lda); s70 = Vector512.FusedMultiplyAdd(xr, v0, s70); s71 = Vector512.FusedMultiplyAdd(xr, v1, s71); }
        }
        float* sum = stackalloc float[16];
        if (Avx512F.IsSupported)
        {
            // Slot order chosen so the reduction tree leaves (row r, weight row jj) in lane 2r + jj.
            Reduce16(s00, s20, s40, s60, s01, s21, s41, s61, s10, s30, s50, s70, s11, s31, s51, s71).Store(sum);
        }
        else
        {
            sum[0] = Vector512.Sum(s00); sum[1] = Vector512.Sum(s01); sum[2] = Vector512.Sum(s10); sum[3] = Vector512.Sum(s11);
            sum[4] = Vector512.Sum(s20); sum[5] = Vector512.Sum(s21); sum[6] = Vector512.Sum(s30); sum[7] = Vector512.Sum(s31);
            sum[8] = Vector512.Sum(s40); sum[9] = Vector512.Sum(s41); sum[10] = Vector512.Sum(s50); sum[11] = Vector512.Sum(s51);
            sum[12] = Vector512.Sum(s60); sum[13] = Vector512.Sum(s61); sum[14] = Vector512.Sum(s70); sum[15] = Vector512.Sum(s71);
        }
        for (; p < k; p++)
        {
            float u0 = TL.Load1(w0, p), u1 = TL.Load1(w1, p);
            for (int r = 0; r < n; r++)
            {
                float x = a[(long)r * lda + p];
                sum[2 * r] = MathF.FusedMultiplyAdd(x, u0, sum[2 * r]);
                sum[2 * r + 1] = MathF.FusedMultiplyAdd(x, u1, sum[2 * r + 1]);
            }
        }
        for (int r = 0; r < n; r++)
        {
            float* cr = c + (long)r * ldc;
            cr[0] = MathF.FusedMultiplyAdd(alpha, sum[2 * r], cr[0]);
            if (pair)
            {
                cr[1] = MathF.FusedMultiplyAdd(alpha, sum[2 * r + 1], cr[1]);
            }
        }
    }

    /// <summary>
    /// Horizontal sums of 16 vectors in one vector, 45 shuffles/adds instead of 16 separate
    /// reductions: 512-bit block shuffles halve the partial lanes twice (16 -> 8 -> 4 per vector),
    /// in-lane shuffles twice more (4 -> 2 -> 1). The sum of input q lands in lane 4 * (q % 4) + q / 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Reduce16(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7, Vector512<float> v8,
        Vector512<float> v9, Vector512<float> v10, Vector512<float> v11, Vector512<float> v12, Vector512<float> v13,
        Vector512<float> v14, Vector512<float> v15)
    {
        var c0 = Halve512(v0, v1); var c1 = Halve512(v2, v3); var c2 = Halve512(v4, v5); var c3 = Halve512(v6, v7);
        var c4 = Halve512(v8, v9); var c5 = Halve512(v10, v11); var c6 = Halve512(v12, v13); var c7 = Halve512(v14, v15);
        var e0 = Halve256(c0, c1); var e1 = Halve256(c2, c3); var e2 = Halve256(c4, c5); var e3 = Halve256(c6, c7);
        var g0 = Avx512F.Shuffle(e0, e1, 0b01_00_01_00) + Avx512F.Shuffle(e0, e1, 0b11_10_11_10);
        var g1 = Avx512F.Shuffle(e2, e3, 0b01_00_01_00) + Avx512F.Shuffle(e2, e3, 0b11_10_11_10);
        return Avx512F.Shuffle(g0, g1, 0b10_00_10_00) + Avx512F.Shuffle(g0, g1, 0b11_01_11_01);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halve512(Vector512<float> a, Vector512<float> b) =>
        Avx512F.Shuffle4x128(a, b, 0b01_00_01_00) + Avx512F.Shuffle4x128(a, b, 0b11_10_11_10);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halve256(Vector512<float> c, Vector512<float> d) =>
        Avx512F.Shuffle4x128(c, d, 0b10_00_10_00) + Avx512F.Shuffle4x128(c, d, 0b11_01_11_01);
}

/// <summary>A row count known to the JIT (one specialisation of <see cref="FewRowsKernel"/>'s tile per count).</summary>
internal interface IRows
{
    static abstract int N { get; }
}

internal readonly struct R1 : IRows { public static int N => 1; }
internal readonly struct R2 : IRows { public static int N => 2; }
internal readonly struct R3 : IRows { public static int N => 3; }
internal readonly struct R4 : IRows { public static int N => 4; }
internal readonly struct R5 : IRows { public static int N => 5; }
internal readonly struct R6 : IRows { public static int N => 6; }
internal readonly struct R7 : IRows { public static int N => 7; }
internal readonly struct R8 : IRows { public static int N => 8; }
