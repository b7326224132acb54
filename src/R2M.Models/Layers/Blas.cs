using R2M.Tensors;

namespace R2M.Models.Layers;

/// <summary>Row-major SGEMM through <see cref="Gemm.Sgemm"/> (OpenBLAS or the managed kernel, R2M.Tensors).</summary>
internal static class Blas
{
    /// <param name="a">(m,k) or (k,m) when transA, row stride lda</param>
    /// <param name="b">(k,n) or (n,k) when transB, row stride ldb</param>
    /// <param name="c">(m,n), row stride ldc</param>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0)
            return;
        Gemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
