using System.Numerics.Tensors;

namespace R2M.Alignment.Internal;

/// <summary>
/// The few dense products the R2M head needs, row-major, written as row-wise AXPY/dot over
/// TensorPrimitives. The head's matrices are small (one query token, S keys), so this is not the hot
/// path of a GRPO step; the policy's GEMMs live in R2M.Models. Kept in one place so it can be routed
/// to R2M.Tensors.Gemm.Sgemm without touching the head.
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
        c[..(m * n)].Clear();
        for (int i = 0; i < m; i++) VecMatAdd(a.Slice(i * k, k), b, k, n, c.Slice(i * n, n));
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
        for (int r = 0; r < m; r++) OuterAdd(a.Slice(r * k, k), b.Slice(r * n, n), k, n, g);
    }

    /// <summary>C (m,k) += A (m,n) · B^T, with B (k,n): input gradient of C' = X·B.</summary>
    public static void MatMatTAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int m, int n, int k, Span<float> c)
    {
        for (int i = 0; i < m; i++)
        {
            var arow = a.Slice(i * n, n);
            var crow = c.Slice(i * k, k);
            for (int j = 0; j < k; j++) crow[j] += TensorPrimitives.Dot(arow, b.Slice(j * n, n));
        }
    }
}
