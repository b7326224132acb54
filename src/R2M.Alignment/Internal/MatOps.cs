using System.Numerics.Tensors;
using R2M.Tensors;

namespace R2M.Alignment.Internal;

/// <summary>
/// The few dense products the R2M head needs, row-major, written as row-wise AXPY/dot over
/// TensorPrimitives. The head's matrices are small (one query token, S keys), so this is not the hot
/// path of a GRPO step; the policy's GEMMs live in R2M.Models. Matrix-matrix products go to
/// R2M.Tensors.Gemm.Sgemm (row-major cblas contract); vector products stay on TensorPrimitives.
/// </summary>
internal static class MatOps
{
    /// <summary>y (n) += x (m) · W (m,n): vector times row-major matrix.</summary>
    public static void VecMatAdd(ReadOnlySpan<float> x, ReadOnlySpan<float> w, int m, int n, Span<float> y)
    {
        for (int i = 0; i < m; i++)
        {
            float xi = x[i];
            if (xi != 0f) TensorPrimitives.MultiplyAdd(w.Slice(i * n, n), xi, y[..n], y[..n]);
        }
    }

    /// <summary>y (m) = W (m,n) · x (n): matrix times vector (dot per row).</summary>
    public static void MatVec(ReadOnlySpan<float> w, int m, int n, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < m; i++) y[i] = TensorPrimitives.Dot(w.Slice(i * n, n), x[..n]);
    }

    /// <summary>C (m,n) = A (m,k) · B (k,n), overwriting C.</summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int k, int n, Span<float> c)
    {
        if (m == 0 || n == 0) return;
        Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
    }

    /// <summary>G (m,n) += x (m) ⊗ y (n): rank-1 update (gradient of a vector-matrix product).</summary>
    public static void OuterAdd(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int m, int n, Span<float> g)
    {
        for (int i = 0; i < m; i++)
        {
            float xi = x[i];
            if (xi != 0f) TensorPrimitives.MultiplyAdd(y[..n], xi, g.Slice(i * n, n), g.Slice(i * n, n));
        }
    }

    /// <summary>G (k,n) += A^T (k,m) · B (m,n), with A (m,k), B (m,n): weight gradient of C = A·B.</summary>
    public static void MatTMatAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int k, int n, Span<float> g)
    {
        if (m == 0 || k == 0 || n == 0) return;
        Gemm.Sgemm(true, false, k, n, m, 1f, a, k, b, n, 1f, g, n);
    }

    /// <summary>C (m,k) += A (m,n) · B^T, with B (k,n): input gradient of C' = X·B.</summary>
    public static void MatMatTAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k, Span<float> c)
    {
        if (m == 0 || k == 0 || n == 0) return;
        Gemm.Sgemm(false, true, m, k, n, 1f, a, n, b, n, 1f, c, k);
    }
}
