using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using R2M.Tensors.Kernels;

namespace R2M.Tensors.Internal;

/// <summary>
/// Managed blocked SGEMM in the GotoBLAS/BLIS layout (Goto and van de Geijn, ACM TOMS 2008):
/// loop over NC column blocks of C, KC slices of k; pack the (KC x NC) slice of op(B) into NR-wide
/// panels (shared, read by all threads), then each task packs an (MC x KC) block of op(A) into
/// MR-high panels (thread-local, stays in L2) and sweeps the micro-kernel over its share of B panels.
/// Transposes are absorbed by the packing routines, so the micro-kernel sees one layout.
/// beta is applied to C once up front; the micro-kernels then accumulate C += alpha * A@B.
/// </summary>
internal static unsafe class ManagedGemm
{
    private const int KC = 256;
    private const int NC = 4096;
    private static readonly int MC = GemmMicroKernel.MR * 16;

    // Packed-B slice (up to KC x NC floats), owned by the calling thread for the duration of a call;
    // pool workers only read it.
    [ThreadStatic]
    private static float[]? t_packB;

    [ThreadStatic]
    private static float[]? t_packA;

    /// <summary>Scratch of <see cref="Job.PackBTransposed"/>: up to NR rows of KC widened weights.</summary>
    [ThreadStatic]
    private static float[]? t_widen;

    public static void Run(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, int threads)
    {
        fixed (float* pb = b)
        {
            Run(transA, transB, m, n, k, alpha, a, lda, (byte*)pb, WeightPrecision.F32, ldb, beta, c, ldc, threads);
        }
    }

    /// <summary>
    /// c(m,n) = alpha * a(m,k) @ w^T + beta * c with w an (n,k) <see cref="WeightMatrix"/> of any precision.
    /// </summary>
    public static void Run(int m, float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix w, float beta, Span<float> c, int ldc, int threads) =>
        Run(false, true, m, w.Rows, w.Cols, alpha, a, lda, w.Pointer, w.Precision, w.Cols, beta, c, ldc, threads);

    /// <summary>True when <see cref="Run"/> sends an (m, n, k) x W^T product to <see cref="FewRowsKernel"/>.</summary>
    public static bool UsesFewRows(int m, bool transA, bool transB) =>
        m <= FewRowsKernel.MaxRows && !transA && transB && Vector512.IsHardwareAccelerated;

    private static void Run(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        byte* b, WeightPrecision bFormat, int ldb, float beta, Span<float> c, int ldc, int threads)
    {
        if (m == 0 || n == 0)
        {
            return;
        }
        fixed (float* pa = a)
        fixed (float* pc = c)
        {
            ScaleC(m, n, beta, pc, ldc);
            if (k == 0 || alpha == 0f)
            {
                return;
            }
            if (UsesFewRows(m, transA, transB))
            {
                FewRowsGemm.Run(bFormat, m, n, k, alpha, pa, lda, b, ldb, pc, ldc, threads);
                return;
            }
            var job = new Job(transA, transB, m, n, k, alpha, (nint)pa, lda, (nint)b, bFormat, ldb, (nint)pc, ldc,
                (long)m * n * k < 48L * 48 * 48 ? 1 : threads);
            job.RunBlocked();
        }
    }

    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        if (beta == 1f)
        {
            return;
        }
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f)
            {
                row.Clear();
            }
            else
            {
                TensorPrimitives.Multiply(row, beta, row);
            }
        }
    }

    private sealed class Job(bool transA, bool transB, int m, int n, int k, float alpha,
        nint a, int lda, nint b, WeightPrecision bFormat, int ldb, nint c, int ldc, int threads)
    {
        private float* A => (float*)a;
        private float* B => (float*)b;
        private float* C => (float*)c;

        public void RunBlocked()
        {
            int nr = GemmMicroKernel.NR;
            int need = Math.Min(k, KC) * ((Math.Min(n, NC) + nr - 1) / nr * nr);
            if (t_packB is null || t_packB.Length < need)
            {
                t_packB = GC.AllocateUninitializedArray<float>(need, pinned: true);
            }
            float[] packB = t_packB;
            fixed (float* pB = packB)
            {
                nint packed = (nint)pB;
                for (int jc = 0; jc < n; jc += NC)
                {
                    int nc = Math.Min(NC, n - jc);
                    int nPanels = (nc + nr - 1) / nr;
                    for (int pc = 0; pc < k; pc += KC)
                    {
                        int kc = Math.Min(KC, k - pc);
                        int jcc = jc, pcc = pc;
                        For(nPanels, jp => PackB((float*)packed + (long)jp * kc * nr, pcc, kc, jcc + jp * nr, Math.Min(nr, nc - jp * nr)));
                        RunSlice(jc, nc, nPanels, pc, kc, (float*)packed);
                    }
                }
            }
        }

        private void RunSlice(int jc, int nc, int nPanels, int pc, int kc, float* packedB)
        {
            int mBlocks = (m + MC - 1) / MC;
            int groups = Math.Clamp((threads * 3 + mBlocks - 1) / mBlocks, 1, nPanels);
            int perGroup = (nPanels + groups - 1) / groups;
            groups = (nPanels + perGroup - 1) / perGroup;
            nint pb = (nint)packedB;
            For(mBlocks * groups, t => RunTask(t / groups, t % groups * perGroup, perGroup, jc, nc, nPanels, pc, kc, (float*)pb));
        }

        private void RunTask(int ib, int jp0, int perGroup, int jc, int nc, int nPanels, int pc, int kc, float* packedB)
        {
            int mr = GemmMicroKernel.MR, nr = GemmMicroKernel.NR;
            int i0 = ib * MC, mc = Math.Min(MC, m - i0);
            int mPanels = (mc + mr - 1) / mr;
            t_packA ??= GC.AllocateUninitializedArray<float>(MC * KC, pinned: true);
            fixed (float* packedA = t_packA)
            {
                for (int ip = 0; ip < mPanels; ip++)
                {
                    PackA(packedA + ip * kc * mr, i0 + ip * mr, Math.Min(mr, mc - ip * mr), pc, kc);
                }
                float* tile = stackalloc float[mr * nr];
                int jp1 = Math.Min(nPanels, jp0 + perGroup);
                for (int jp = jp0; jp < jp1; jp++)
                {
                    int ncEff = Math.Min(nr, nc - jp * nr);
                    float* bp = packedB + (long)jp * kc * nr;
                    for (int ip = 0; ip < mPanels; ip++)
                    {
                        int mrEff = Math.Min(mr, mc - ip * mr);
                        float* cp = C + (long)(i0 + ip * mr) * ldc + jc + jp * nr;
                        if (mrEff == mr && ncEff == nr)
                        {
                            GemmMicroKernel.Run(kc, packedA + ip * kc * mr, bp, cp, ldc, alpha);
                        }
                        else
                        {
                            EdgeTile(kc, packedA + ip * kc * mr, bp, cp, mrEff, ncEff, tile);
                        }
                    }
                }
            }
        }

        private void EdgeTile(int kc, float* ap, float* bp, float* cp, int mrEff, int ncEff, float* tile)
        {
            int nr = GemmMicroKernel.NR;
            new Span<float>(tile, GemmMicroKernel.MR * nr).Clear();
            GemmMicroKernel.Run(kc, ap, bp, tile, nr, alpha);
            for (int r = 0; r < mrEff; r++)
            {
                var dst = new Span<float>(cp + (long)r * ldc, ncEff);
                TensorPrimitives.Add(dst, new ReadOnlySpan<float>(tile + r * nr, ncEff), dst);
            }
        }

        /// <summary>Packs op(A)[i0..i0+rows, p0..p0+kc] as (kc, MR), zero-padding missing rows.</summary>
        private void PackA(float* dst, int i0, int rows, int p0, int kc)
        {
            int mr = GemmMicroKernel.MR;
            if (rows < mr)
            {
                new Span<float>(dst, kc * mr).Clear();
            }
            if (transA)
            {
                // stored (k, m): a k-step's MR values are contiguous.
                for (int p = 0; p < kc; p++)
                {
                    new ReadOnlySpan<float>(A + (long)(p0 + p) * lda + i0, rows).CopyTo(new Span<float>(dst + p * mr, rows));
                }
                return;
            }
            // stored (m, k): gather one k step across the MR rows per iteration, so writes are
            // sequential and the MR source rows stay in L1 across 16 consecutive k steps.
            float* src = A + (long)i0 * lda + p0;
            for (int p = 0; p < kc; p++)
            {
                float* d = dst + p * mr;
                for (int r = 0; r < rows; r++)
                {
                    d[r] = src[(long)r * lda + p];
                }
            }
        }

        /// <summary>Packs op(B)[p0..p0+kc, j0..j0+cols] as (kc, NR), zero-padding missing columns.</summary>
        private void PackB(float* dst, int p0, int kc, int j0, int cols)
        {
            int nr = GemmMicroKernel.NR;
            if (cols < nr)
            {
                new Span<float>(dst, kc * nr).Clear();
            }
            if (!transB)
            {
                for (int p = 0; p < kc; p++)
                {
                    new ReadOnlySpan<float>(B + (long)(p0 + p) * ldb + j0, cols).CopyTo(new Span<float>(dst + p * nr, cols));
                }
                return;
            }
            // stored (n, k): same gather order as PackA's (m, k) case; 16-bit weights are widened here.
            switch (bFormat)
            {
                case WeightPrecision.BF16:
                    PackBTransposed<Bf16Load>(dst, p0, kc, j0, cols);
                    return;
                case WeightPrecision.F16:
                    PackBTransposed<F16Load>(dst, p0, kc, j0, cols);
                    return;
            }
            float* src = B + (long)j0 * ldb + p0;
            for (int p = 0; p < kc; p++)
            {
                float* d = dst + p * nr;
                for (int j = 0; j < cols; j++)
                {
                    d[j] = src[(long)j * ldb + p];
                }
            }
        }

        /// <summary>
        /// Packs 16-bit (n, k) weights: each of the panel's rows is first widened to f32 with the
        /// kernel's vector loads into a row-major scratch (in L1), then gathered like the f32 case.
        /// </summary>
        private void PackBTransposed<TL>(float* dst, int p0, int kc, int j0, int cols)
            where TL : IWeightLoad
        {
            int nr = GemmMicroKernel.NR;
            t_widen ??= GC.AllocateUninitializedArray<float>(KC * 64, pinned: true);
            fixed (float* rows = t_widen)
            {
                for (int j = 0; j < cols; j++)
                {
                    byte* src = (byte*)b + ((long)(j0 + j) * ldb + p0) * TL.Size;
                    float* row = rows + j * kc;
                    int p = 0;
                    for (; p + 16 <= kc; p += 16)
                    {
                        TL.Load16(src + (long)p * TL.Size).Store(row + p);
                    }
                    for (; p < kc; p++)
                    {
                        row[p] = TL.Load1(src, p);
                    }
                }
                for (int p = 0; p < kc; p++)
                {
                    float* d = dst + p * nr;
                    for (int j = 0; j < cols; j++)
                    {
                        d[j] = rows[j * kc + p];
                    }
                }
            }
        }

        private void For(int count, Action<int> body)
        {
            if (threads <= 1 || count <= 1)
            {
                for (int i = 0; i < count; i++)
                {
                    body(i);
                }
                return;
            }
            WorkerPool.Run(count, threads, body);
        }
    }
}
