using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// RMSNorm as in HF LlamaRMSNorm (docs/specs.md section 3): y = x / sqrt(mean(x^2) + eps) * weight.
/// </summary>
public static unsafe class RmsNorm
{
    /// <summary>
    /// output (N,C); rstd (N) saved for Backward (empty to skip); input (N,C); weight (C).
    /// output may alias input.
    /// </summary>
    public static void Forward(Span<float> output, Span<float> rstd, ReadOnlySpan<float> input,
        ReadOnlySpan<float> weight, int rows, int channels, float eps)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(channels, nameof(channels));
        long nc = (long)rows * channels;
        Check.Len(output.Length, nc, nameof(output), "(N,C)");
        Check.LenOpt(rstd.Length, rows, nameof(rstd), "(N)");
        Check.Len(input.Length, nc, nameof(input), "(N,C)");
        Check.Len(weight.Length, channels, nameof(weight), "(C)");
        bool save = rstd.Length > 0;
        fixed (float* po = output, pr = rstd, pi = input, pw = weight)
        {
            nint o = (nint)po, r = (nint)pr, x = (nint)pi, w = (nint)pw;
            Par.For(rows, channels * 4L, (r0, r1) =>
            {
                var wv = new ReadOnlySpan<float>((float*)w, channels);
                for (int n = r0; n < r1; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels, channels);
                    var yr = new Span<float>((float*)o + (long)n * channels, channels);
                    float rs = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / channels + eps);
                    TensorPrimitives.Multiply(xr, rs, yr);
                    TensorPrimitives.Multiply(yr, wv, yr);
                    if (save)
                    {
                        ((float*)r)[n] = rs;
                    }
                }
            });
        }
    }

    /// <summary>
    /// Accumulates: dinput (N,C) +=, dweight (C) +=. doutput (N,C); input (N,C); weight (C); rstd (N).
    /// dx = rstd * dy*w - x * rstd^3 * mean(dy*w*x); dw = sum_n dy * x * rstd.
    /// </summary>
    public static void Backward(Span<float> dinput, Span<float> dweight, ReadOnlySpan<float> doutput,
        ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> rstd, int rows, int channels)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(channels, nameof(channels));
        long nc = (long)rows * channels;
        Check.LenOpt(dinput.Length, nc, nameof(dinput), "(N,C)");
        Check.Len(dweight.Length, channels, nameof(dweight), "(C)");
        Check.Len(doutput.Length, nc, nameof(doutput), "(N,C)");
        Check.Len(input.Length, nc, nameof(input), "(N,C)");
        Check.Len(weight.Length, channels, nameof(weight), "(C)");
        Check.Len(rstd.Length, rows, nameof(rstd), "(N)");
        bool wantDx = dinput.Length > 0;
        fixed (float* pdx = dinput, pdw = dweight, pdy = doutput, px = input, pw = weight, pr = rstd)
        {
            nint dx = (nint)pdx, dw = (nint)pdw, dy = (nint)pdy, x = (nint)px, w = (nint)pw, r = (nint)pr;
            Par.For(channels, rows * 3L, (c0, c1) =>
            {
                int len = c1 - c0;
                Span<float> t = len <= 1024 ? stackalloc float[len] : new float[len];
                var dwv = new Span<float>((float*)dw + c0, len);
                for (int n = 0; n < rows; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels + c0, len);
                    var dyr = new ReadOnlySpan<float>((float*)dy + (long)n * channels + c0, len);
                    TensorPrimitives.Multiply(xr, ((float*)r)[n], t);
                    TensorPrimitives.MultiplyAdd(dyr, t, dwv, dwv);
                }
            });
            if (!wantDx)
            {
                return;
            }
            Par.For(rows, channels * 6L, (r0, r1) =>
            {
                Span<float> g = channels <= 4096 ? stackalloc float[channels] : new float[channels];
                var wv = new ReadOnlySpan<float>((float*)w, channels);
                for (int n = r0; n < r1; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * channels, channels);
                    var dyr = new ReadOnlySpan<float>((float*)dy + (long)n * channels, channels);
                    var dxr = new Span<float>((float*)dx + (long)n * channels, channels);
                    float rs = ((float*)r)[n];
                    TensorPrimitives.Multiply(dyr, wv, g);
                    float k = TensorPrimitives.Dot(g, xr) / channels * rs * rs * rs;
                    TensorPrimitives.MultiplyAdd(g, rs, dxr, dxr);
                    TensorPrimitives.MultiplyAdd(xr, -k, dxr, dxr);
                }
            });
        }
    }
}
