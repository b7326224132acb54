using R2M.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// LayerNorm (GPT-NeoX) or RMSNorm (Llama) through the R2M.Tensors kernels, chosen by flag.
/// </summary>
internal static class Norm
{
    /// <param name="x">(N, C)</param>
    /// <param name="y">(N, C)</param>
    /// <param name="mean">(N), written (LayerNorm only; ignored when rms)</param>
    /// <param name="rstd">(N), written</param>
    /// <param name="w">(C)</param>
    /// <param name="b">(C), or empty for RMSNorm</param>
    public static void Forward(bool rms, ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> rstd,
        ReadOnlySpan<float> w, ReadOnlySpan<float> b, int n, int c, float eps)
    {
        if (rms)
            RmsNorm.Forward(y[..(n * c)], rstd[..n], x[..(n * c)], w, n, c, eps);
        else
            LayerNorm.Forward(y[..(n * c)], mean[..n], rstd[..n], x[..(n * c)], w, b, n, c, eps);
    }

    /// <summary>dx += ...; dw += sum dy*norm; db += sum dy (db empty for RMSNorm).</summary>
    /// <param name="dy">(N, C)</param>
    /// <param name="x">(N, C) the forward input</param>
    /// <param name="dx">(N, C), accumulated</param>
    public static void Backward(bool rms, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> w, Span<float> dx, Span<float> dw, Span<float> db, int n, int c)
    {
        if (rms)
            RmsNorm.Backward(dx[..(n * c)], dw, dy[..(n * c)], x[..(n * c)], w, rstd[..n], n, c);
        else
            LayerNorm.Backward(dx[..(n * c)], dw, db, dy[..(n * c)], x[..(n * c)], w, mean[..n], rstd[..n], n, c);
    }
}
