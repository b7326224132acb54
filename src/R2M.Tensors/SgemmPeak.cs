using System.Diagnostics;

namespace R2M.Tensors;

/// <summary>
/// Measures this machine's SGEMM rate, the yardstick for "share of peak" figures in benchmarks:
/// a large square row-major SGEMM (OpenBLAS when it loads, else the managed kernel), best of a
/// few timed repetitions after a warm-up.
/// </summary>
public static class SgemmPeak
{
    /// <summary>GFLOP/s (2 m n k / seconds) of the best run at the given thread count; size is m = n = k.</summary>
    public static double Measure(int threads, int size = 2048, int repetitions = 3)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be >= 1");
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be >= 1");
        var backend = Gemm.OpenBlasAvailable ? GemmBackend.OpenBlas : GemmBackend.Managed;
        return MeasureShape(backend, threads, false, false, size, size, size, Math.Max(1, repetitions));
    }

    /// <summary>
    /// GFLOP/s of C(m,n) = op(A) op(B) on one backend at a thread count (best of `repetitions`
    /// after one warm-up). Restores <see cref="Gemm.ThreadCount"/> afterwards.
    /// </summary>
    public static double MeasureShape(GemmBackend backend, int threads, bool transA, bool transB, int m, int n, int k,
        int repetitions = 3)
    {
        var rng = new Rng(12345);
        var a = new float[(long)m * k];
        var b = new float[(long)k * n];
        var c = new float[(long)m * n];
        rng.FillUniform(a, -1f, 1f);
        rng.FillUniform(b, -1f, 1f);
        int lda = transA ? m : k, ldb = transB ? k : n;
        int saved = Gemm.ThreadCount;
        try
        {
            Gemm.ThreadCount = threads;
            // Warm-up: at least 3 runs and 0.3 s, so tiered JIT has promoted the managed hot paths
            // (including TensorPrimitives) to optimized code and OpenBLAS threads are started.
            long warm = Stopwatch.GetTimestamp();
            for (int r = 0; r < 3 || Stopwatch.GetElapsedTime(warm).TotalSeconds < 0.3; r++)
            {
                Run(backend, transA, transB, m, n, k, a, lda, b, ldb, c);
            }
            double best = double.MaxValue;
            for (int r = 0; r < repetitions; r++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Run(backend, transA, transB, m, n, k, a, lda, b, ldb, c);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return 2.0 * m * n * k / best / 1e9;
        }
        finally
        {
            Gemm.ThreadCount = saved;
        }
    }

    private static void Run(GemmBackend backend, bool transA, bool transB, int m, int n, int k,
        float[] a, int lda, float[] b, int ldb, float[] c)
    {
        if (backend == GemmBackend.OpenBlas)
        {
            Gemm.SgemmOpenBlas(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        }
        else
        {
            Gemm.SgemmManaged(transA, transB, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
        }
    }
}
