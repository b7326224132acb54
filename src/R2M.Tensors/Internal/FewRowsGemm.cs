using R2M.Tensors.Kernels;

namespace R2M.Tensors.Internal;

/// <summary>
/// Threads for <see cref="FewRowsKernel"/>: the n weight rows are cut into one contiguous range per
/// thread (even-sized, so pairs stay whole), so the threads share the weight stream and each reads
/// its part of w exactly once. Products under ~256 KiB of weights run on the calling thread.
/// </summary>
internal static unsafe class FewRowsGemm
{
    private const long MinBytesPerThread = 128 << 10;

    [ThreadStatic]
    private static float[]? t_rows;

    public static void Run(WeightPrecision format, int m, int n, int k, float alpha, float* a, int lda, byte* w, long ldw,
        float* c, int ldc, int threads)
    {
        // The rows of a are copied to a 64-byte aligned scratch (row stride a multiple of 16 floats), so
        // their vector loads never split a cache line; WeightMatrix storage is 64-byte aligned too.
        int ldx = (k + 15) & ~15;
        int need = m * ldx + 16;
        if (t_rows is null || t_rows.Length < need)
        {
            t_rows = GC.AllocateArray<float>(Math.Max(need, 16 * 1024), pinned: true);
        }
        float* scratch = (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(t_rows));
        float* x = (float*)(((nint)scratch + 63) & ~(nint)63);
        for (int i = 0; i < m; i++)
        {
            new ReadOnlySpan<float>(a + (long)i * lda, k).CopyTo(new Span<float>(x + (long)i * ldx, k));
        }
        a = x;
        lda = ldx;
        long bytes = (long)n * k * Precision.Size(format);
        int parts = (int)Math.Clamp(bytes / MinBytesPerThread, 1, Math.Min(threads, (n + 1) / 2));
        if (parts <= 1)
        {
            Range(format, m, 0, n, k, alpha, a, lda, w, ldw, c, ldc);
            return;
        }
        int chunk = ((n + parts - 1) / parts + 1) & ~1;
        nint pa = (nint)a, pw = (nint)w, pc = (nint)c;
        WorkerPool.Run(parts, threads, t =>
        {
            int j0 = t * chunk, j1 = Math.Min(n, j0 + chunk);
            if (j0 < j1)
            {
                Range(format, m, j0, j1, k, alpha, (float*)pa, lda, (byte*)pw, ldw, (float*)pc, ldc);
            }
        });
    }

    private static void Range(WeightPrecision format, int m, int j0, int j1, int k, float alpha, float* a, int lda,
        byte* w, long ldw, float* c, int ldc)
    {
        switch (format)
        {
            case WeightPrecision.BF16:
                FewRowsKernel.Run<Bf16Load>(m, j0, j1, k, a, lda, w, ldw, c, ldc, alpha);
                break;
            case WeightPrecision.F16:
                FewRowsKernel.Run<F16Load>(m, j0, j1, k, a, lda, w, ldw, c, ldc, alpha);
                break;
            default:
                FewRowsKernel.Run<F32Load>(m, j0, j1, k, a, lda, w, ldw, c, ldc, alpha);
                break;
        }
    }
}
