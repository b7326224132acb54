using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// LayerNorm over the last dimension (PyTorch nn.LayerNorm, biased variance):
/// y = (x - mean) / sqrt(var + eps) * weight + bias. Rows are B*T flattened.
/// </summary>
public static unsafe class LayerNorm
{
    /// <summary>
    /// output (N,C); mean (N) and rstd (N) saved for Backward (pass empty spans to skip saving);
    /// input (N,C); weight (C); bias (C). output may alias input.
    /// </summary>
    public static void Forward(Span<float> output, Span<float> mean, Span<float> rstd, ReadOnlySpan<float> input,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int rows, int channels, float eps)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(channels, nameof(channels));
        long nc = (long)rows * channels;
        Check.Len(output.Length, nc, nameof(output), "(N,C)");
        Check.LenOpt(mean.Length, rows, nameof(mean), "(N)");
        Check.LenOpt(rstd.Length, rows, nameof(rstd), "(N)");
        Check.Len(input.Length, nc, nameof(input), "(N,C)");
        Check.Len(weight.Length, channels, nameof(weight), "(C)");
        Check.Len(bias.Length, channels, nameof(bias), "(C)");
        bool save = mean.Length > 0 && rstd.Length > 0;
        fixed (float* po = output, pm = mean, pr = rstd, pi = input, pw = weight, pb = bias)
        {
            nint o = (nint)po, m = (nint)pm, r = (nint)pr, x = (nint)pi, w = (nint)pw, b = (nint)pb;
            Par.For(rows, channels * 8L, (r0, r1) =>
            {
                var wv = new ReadOnlySpan<float>((float*)w, channels);
                var bv = new ReadOnlySpan<float>((float*)b, channels);
                for (int n = r0; n < r1; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels, channels);
                    var yr = new Span<float>((float*)o + (long)n * channels, channels);
                    float mu = TensorPrimitives.Sum(xr) / channels;
                    TensorPrimitives.Subtract(xr, mu, yr);
                    float var = TensorPrimitives.SumOfSquares(yr) / channels;
                    float rs = 1f / MathF.Sqrt(var + eps);
                    TensorPrimitives.Multiply(yr, rs, yr);
                    TensorPrimitives.MultiplyAdd(yr, wv, bv, yr);
                    if (save)
                    {
                        ((float*)m)[n] = mu;
                        ((float*)r)[n] = rs;
                    }
                }
            });
        }
    }

    /// <summary>
    /// Accumulates: dinput (N,C) +=, dweight (C) +=, dbias (C) +=. doutput (N,C); input (N,C);
    /// weight (C); mean (N), rstd (N) from Forward. dinput may be empty to skip it.
    /// dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dy * weight.
    /// </summary>
    public static void Backward(Span<float> dinput, Span<float> dweight, Span<float> dbias, ReadOnlySpan<float> doutput,
        ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        int rows, int channels)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(channels, nameof(channels));
        long nc = (long)rows * channels;
        Check.LenOpt(dinput.Length, nc, nameof(dinput), "(N,C)");
        Check.Len(dweight.Length, channels, nameof(dweight), "(C)");
        Check.Len(dbias.Length, channels, nameof(dbias), "(C)");
        Check.Len(doutput.Length, nc, nameof(doutput), "(N,C)");
        Check.Len(input.Length, nc, nameof(input), "(N,C)");
        Check.Len(weight.Length, channels, nameof(weight), "(C)");
        Check.Len(mean.Length, rows, nameof(mean), "(N)");
        Check.Len(rstd.Length, rows, nameof(rstd), "(N)");
        bool wantDx = dinput.Length > 0;
        fixed (float* pdx = dinput, pdw = dweight, pdb = dbias, pdy = doutput, px = input, pw = weight, pm = mean, pr = rstd)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, x = (nint)px, w = (nint)pw, m = (nint)pm, r = (nint)pr;
            // Parameter gradients: column sums over rows, split by column ranges so threads never share a slot.
            nint dw = (nint)pdw, db = (nint)pdb;
            Par.For(channels, rows * 4L, (c0, c1) =>
            {
                int len = c1 - c0;
                Span<float> norm = len <= 1024 ? stackalloc float[len] : new float[len];
                var dwv = new Span<float>((float*)dw + c0, len);
                var dbv = new Span<float>((float*)db + c0, len);
                for (int n = 0; n < rows; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels + c0, len);
                    var dyr = new ReadOnlySpan<float>((float*)dy + (long)n * channels + c0, len);
                    TensorPrimitives.Subtract(xr, ((float*)m)[n], norm);
                    TensorPrimitives.Multiply(norm, ((float*)r)[n], norm);
                    TensorPrimitives.MultiplyAdd(dyr, norm, dwv, dwv);
                    TensorPrimitives.Add(dbv, dyr, dbv);
                }
            });
            if (!wantDx)
            {
                return;
            }
            Par.For(rows, channels * 10L, (r0, r1) =>
            {
                Span<float> norm = channels <= 4096 ? stackalloc float[channels] : new float[channels];
                Span<float> dnorm = channels <= 4096 ? stackalloc float[channels] : new float[channels];
                var wv = new ReadOnlySpan<float>((float*)w, channels);
                for (int n = r0; n < r1; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels, channels);
                    var dyr = new ReadOnlySpan<float>((float*)dy + (long)n * channels, channels);
                    var dxr = new Span<float>((float*)dx + (long)n * channels, channels);
                    float rs = ((float*)r)[n];
                    TensorPrimitives.Subtract(xr, ((float*)m)[n], norm);
                    TensorPrimitives.Multiply(norm, rs, norm);
                    TensorPrimitives.Multiply(dyr, wv, dnorm);
                    float meanD = TensorPrimitives.Sum(dnorm) / channels;
                    float meanDN = TensorPrimitives.Dot(dnorm, norm) / channels;
                    // dx += rs * (dnorm - meanD - norm * meanDN)
                    TensorPrimitives.MultiplyAdd(norm, -meanDN, dnorm, dnorm);
                    TensorPrimitives.Subtract(dnorm, meanD, dnorm);
                    TensorPrimitives.MultiplyAdd(dnorm, rs, dxr, dxr);
                }
            });
        }
    }
}
