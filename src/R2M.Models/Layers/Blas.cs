using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace R2M.Models.Layers;

/// <summary>
/// Row-major SGEMM, C = alpha op(A) op(B) + beta C, with the same signature as
/// <c>R2M.Tensors.Gemm.Sgemm</c>. Temporary shim until the tensors branch lands its GEMM: OpenBLAS
/// <c>cblas_sgemm</c> when libopenblas.so.0 loads, a plain managed kernel otherwise.
/// </summary>
internal static unsafe partial class Blas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly bool HasOpenBlas = TryLoad();

    /// <summary>"openblas" or "managed".</summary>
    public static string Backend => HasOpenBlas ? "openblas" : "managed";

    [LibraryImport("libopenblas.so.0")]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport("libopenblas.so.0")]
    private static partial void openblas_set_num_threads(int n);

    private static bool TryLoad()
    {
        if (!NativeLibrary.TryLoad("libopenblas.so.0", out _))
            return false;
        return Environment.GetEnvironmentVariable("R2M_GEMM") != "managed";
    }

    /// <summary>Sets the GEMM thread count (OpenBLAS) when available.</summary>
    public static void SetThreads(int n)
    {
        if (HasOpenBlas)
            openblas_set_num_threads(n);
    }

    /// <param name="a">(m,k) or (k,m) when transA, row stride lda</param>
    /// <param name="b">(k,n) or (n,k) when transB, row stride ldb</param>
    /// <param name="c">(m,n), row stride ldc</param>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0)
            return;
        if (HasOpenBlas)
        {
            fixed (float* pa = a, pb = b, pc = c)
                cblas_sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha,
                    pa, lda, pb, ldb, beta, pc, ldc);
            return;
        }
        Managed(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    private static void Managed(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        // Pack op(A) rows and op(B) columns contiguous, then each C entry is one dot product.
        var ap = new float[m * k];
        var bp = new float[n * k];
        for (var i = 0; i < m; i++)
            for (var p = 0; p < k; p++)
                ap[i * k + p] = transA ? a[p * lda + i] : a[i * lda + p];
        for (var j = 0; j < n; j++)
            for (var p = 0; p < k; p++)
                bp[j * k + p] = transB ? b[j * ldb + p] : b[p * ldb + j];
        var cArr = new float[m * n];
        Parallel.For(0, m, i =>
        {
            var ai = ap.AsSpan(i * k, k);
            for (var j = 0; j < n; j++)
                cArr[i * n + j] = TensorPrimitives.Dot(ai, bp.AsSpan(j * k, k));
        });
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
                c[i * ldc + j] = alpha * cArr[i * n + j] + (beta == 0 ? 0 : beta * c[i * ldc + j]);
    }
}
