using System.Numerics.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// LayerNorm (GPT-NeoX) and RMSNorm (Llama), forward and backward side by side (llm.c layernorm
/// backward; RMSNorm is the same without the mean). Statistics are computed in double per row.
/// </summary>
internal static unsafe class Norm
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
        fixed (float* px = x, py = y, pm = mean, pr = rstd, pw = w, pb = b)
        {
            nint xP = (nint)px, yP = (nint)py, mP = (nint)pm, rP = (nint)pr, wP = (nint)pw, bP = (nint)pb;
            var hasMean = !mean.IsEmpty;
            Par.For(n, (lo, hi) =>
            {
                var ws = new ReadOnlySpan<float>((float*)wP, c);
                var bs = new ReadOnlySpan<float>((float*)bP, rms ? 0 : c);
                for (var r = lo; r < hi; r++)
                {
                    var xr = new ReadOnlySpan<float>((float*)xP + (long)r * c, c);
                    var yr = new Span<float>((float*)yP + (long)r * c, c);
                    double m = 0;
                    if (!rms)
                    {
                        for (var i = 0; i < c; i++)
                            m += xr[i];
                        m /= c;
                    }
                    double v = 0;
                    for (var i = 0; i < c; i++)
                    {
                        var d = xr[i] - m;
                        v += d * d;
                    }
                    var s = (float)(1.0 / Math.Sqrt(v / c + eps));
                    ((float*)rP)[r] = s;
                    if (hasMean)
                        ((float*)mP)[r] = (float)m;
                    TensorPrimitives.Subtract(xr, (float)m, yr);
                    TensorPrimitives.Multiply(yr, s, yr);
                    TensorPrimitives.Multiply(yr, ws, yr);
                    if (!rms)
                        TensorPrimitives.Add(yr, bs, yr);
                }
            }, 8);
        }
    }

    /// <summary>dx += ...; dw += sum dy*norm; db += sum dy (db empty for RMSNorm).</summary>
    /// <param name="dy">(N, C)</param>
    /// <param name="x">(N, C) the forward input</param>
    /// <param name="dx">(N, C), accumulated</param>
    public static void Backward(bool rms, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> w, Span<float> dx, Span<float> dw, Span<float> db, int n, int c)
    {
        var threads = Math.Max(1, Math.Min(Par.Threads, n / 8));
        var partial = new float[threads * 2 * c];
        fixed (float* pdy = dy, px = x, pm = mean, pr = rstd, pw = w, pdx = dx, ppart = partial)
        {
            nint dyP = (nint)pdy, xP = (nint)px, mP = (nint)pm, rP = (nint)pr, wP = (nint)pw, dxP = (nint)pdx, partP = (nint)ppart;
            Parallel.For(0, threads, t =>
            {
                var lo = (int)((long)n * t / threads);
                var hi = (int)((long)n * (t + 1) / threads);
                var pdw = new Span<float>((float*)partP + (long)t * 2 * c, c);
                var pdb = new Span<float>((float*)partP + (long)t * 2 * c + c, c);
                var ws = new ReadOnlySpan<float>((float*)wP, c);
                var norm = new float[c];
                var dnorm = new float[c];
                for (var r = lo; r < hi; r++)
                {
                    var dyr = new ReadOnlySpan<float>((float*)dyP + (long)r * c, c);
                    var xr = new ReadOnlySpan<float>((float*)xP + (long)r * c, c);
                    var dxr = new Span<float>((float*)dxP + (long)r * c, c);
                    var m = rms ? 0f : ((float*)mP)[r];
                    var s = ((float*)rP)[r];
                    TensorPrimitives.Subtract(xr, m, norm);
                    TensorPrimitives.Multiply(norm, s, norm);
                    TensorPrimitives.Multiply(dyr, ws, dnorm);
                    TensorPrimitives.MultiplyAdd(dyr, norm, pdw, pdw);
                    if (!rms)
                        TensorPrimitives.Add(pdb, dyr, pdb);
                    var meanDn = rms ? 0f : TensorPrimitives.Sum(dnorm) / c;
                    var meanDnN = TensorPrimitives.Dot(dnorm, norm) / c;
                    // dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
                    for (var i = 0; i < c; i++)
                        dxr[i] += s * (dnorm[i] - meanDn - norm[i] * meanDnN);
                }
            });
        }
        for (var t = 0; t < threads; t++)
        {
            TensorPrimitives.Add(dw, partial.AsSpan(t * 2 * c, c), dw);
            if (!rms)
                TensorPrimitives.Add(db, partial.AsSpan(t * 2 * c + c, c), db);
        }
    }
}
