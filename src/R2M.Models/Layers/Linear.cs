using System.Numerics.Tensors;

namespace R2M.Models.Layers;

/// <summary>nn.Linear: y = x W^T + b with W stored [out, in] (REFERENCE.md section 3).</summary>
internal static class Linear
{
    /// <param name="x">(N, in)</param>
    /// <param name="w">(out, in)</param>
    /// <param name="b">(out) or empty</param>
    /// <param name="y">(N, out), overwritten</param>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y,
        int n, int inDim, int outDim)
    {
        Blas.Sgemm(false, true, n, outDim, inDim, 1f, x, inDim, w, inDim, 0f, y, outDim);
        if (!b.IsEmpty)
            for (var r = 0; r < n; r++)
                TensorPrimitives.Add(y.Slice(r * outDim, outDim), b, y.Slice(r * outDim, outDim));
    }

    /// <summary>dx += dy W; dW += dy^T x; db += sum_rows dy. dx may be empty (input needs no gradient).</summary>
    /// <param name="dy">(N, out)</param>
    /// <param name="x">(N, in)</param>
    /// <param name="w">(out, in)</param>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> dx, Span<float> dw, Span<float> db, int n, int inDim, int outDim)
    {
        if (!dx.IsEmpty)
            Blas.Sgemm(false, false, n, inDim, outDim, 1f, dy, outDim, w, inDim, 1f, dx, inDim);
        Blas.Sgemm(true, false, outDim, inDim, n, 1f, dy, outDim, x, inDim, 1f, dw, inDim);
        if (!db.IsEmpty)
            for (var r = 0; r < n; r++)
                TensorPrimitives.Add(db, dy.Slice(r * outDim, outDim), db);
    }
}
