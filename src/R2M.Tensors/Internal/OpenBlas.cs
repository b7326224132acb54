using System.Runtime.InteropServices;

namespace R2M.Tensors.Internal;

/// <summary>
/// P/Invoke into OpenBLAS (Debian libopenblas0-pthread). The library is probed lazily with
/// NativeLibrary.TryLoad; the imports below are only called after that probe succeeded, so a
/// machine without OpenBLAS never touches them and falls back to the managed kernel.
/// Enum values are those of cblas.h (CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112).
/// </summary>
internal static partial class OpenBlas
{
    private const string LibName = "libopenblas.so.0";
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    private static readonly Lazy<bool> s_available = new(Probe);

    public static bool Available => s_available.Value;

    private static bool Probe()
    {
        if (!NativeLibrary.TryLoad(LibName, typeof(OpenBlas).Assembly, null, out var handle))
        {
            return false;
        }
        // Require both entry points; a BLAS without openblas_set_num_threads is not OpenBLAS.
        return NativeLibrary.TryGetExport(handle, "cblas_sgemm", out _)
            && NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out _);
    }

    public static unsafe void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        cblas_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    public static void SetThreads(int threads) => openblas_set_num_threads(threads);

    [LibraryImport(LibName)]
    private static unsafe partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(LibName)]
    private static partial void openblas_set_num_threads(int threads);
}
