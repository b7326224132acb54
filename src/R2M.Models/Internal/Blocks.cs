using R2M.Tensors;

namespace R2M.Models;

/// <summary>MLP activations the engine runs (transformers activations.py ACT2FN names).</summary>
internal enum ActivationKind { GeluExact, GeluTanh, Silu }

/// <summary>config.json <c>hidden_act</c> names -> <see cref="ActivationKind"/>.</summary>
internal static class ActivationNames
{
    public static bool TryParse(string name, out ActivationKind kind)
    {
        (var ok, kind) = name switch
        {
            "gelu" => (true, ActivationKind.GeluExact),
            "gelu_new" or "gelu_fast" or "gelu_pytorch_tanh" => (true, ActivationKind.GeluTanh),
            "silu" or "swish" => (true, ActivationKind.Silu),
            _ => (false, ActivationKind.GeluExact),
        };
        return ok;
    }

    public static bool IsKnown(string name) => TryParse(name, out _);

    public static ActivationKind Parse(string name) =>
        TryParse(name, out var k) ? k : throw new ArgumentException($"unsupported activation '{name}' (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, silu)", nameof(name));
}

/// <summary>LayerNorm (GPT-NeoX) or RMSNorm (Llama) over the R2M.Tensors kernels, chosen by flag.</summary>
internal static class NormBlock
{
    /// <param name="x">(N, C)</param>
    /// <param name="y">(N, C), written</param>
    /// <param name="mean">(N), written (LayerNorm only)</param>
    /// <param name="rstd">(N), written</param>
    /// <param name="w">(C)</param>
    /// <param name="b">(C), empty for RMSNorm</param>
    public static void Forward(bool rms, ReadOnlySpan<float> x, Span<float> y, Span<float> mean, Span<float> rstd,
        ReadOnlySpan<float> w, ReadOnlySpan<float> b, int n, int c, float eps)
    {
        if (rms)
            RmsNorm.Forward(y[..(n * c)], rstd[..n], x[..(n * c)], w, n, c, eps);
        else
            LayerNorm.Forward(y[..(n * c)], mean[..n], rstd[..n], x[..(n * c)], w, b, n, c, eps);
    }

    /// <summary>dx (N, C) +=; dw (C) +=; db (C) += (empty for RMSNorm); dy (N, C); x (N, C) the forward input.</summary>
    public static void Backward(bool rms, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> mean,
        ReadOnlySpan<float> rstd, ReadOnlySpan<float> w, Span<float> dx, Span<float> dw, Span<float> db, int n, int c)
    {
        if (rms)
            RmsNorm.Backward(dx[..(n * c)], dw, dy[..(n * c)], x[..(n * c)], w, rstd[..n], n, c);
        else
            LayerNorm.Backward(dx[..(n * c)], dw, db, dy[..(n * c)], x[..(n * c)], w, mean[..n], rstd[..n], n, c);
    }
}

/// <summary>
/// The MLP non-linearity over whole activations. Plain: h = act(pre). Gated (Llama SwiGLU): pre
/// holds [gate | up] per row (one fused gate_proj/up_proj GEMM) and h = silu(gate) * up.
/// </summary>
internal static unsafe class MlpBlock
{
    /// <param name="pre">(N, I) plain or (N, 2I) gated</param>
    /// <param name="h">(N, I), written</param>
    public static void Forward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, Span<float> h, int n, int inter)
    {
        if (gated)
        {
            fixed (float* pp = pre, ph = h)
            {
                nint src = (nint)pp, dst = (nint)ph;
                RowParallel.For(n, 8L * inter, (lo, hi) =>
                {
                    for (var r = lo; r < hi; r++)
                    {
                        var row = (float*)src + (long)r * 2 * inter;
                        SwiGlu.Forward(new Span<float>((float*)dst + (long)r * inter, inter), new ReadOnlySpan<float>(row, inter),
                            new ReadOnlySpan<float>(row + inter, inter), inter);
                    }
                });
            }
            return;
        }
        var count = n * inter;
        switch (kind)
        {
            case ActivationKind.GeluExact: Gelu.Forward(h[..count], pre[..count], count); break;
            case ActivationKind.GeluTanh: GeluTanh.Forward(h[..count], pre[..count], count); break;
            default: Silu.Forward(h[..count], pre[..count], count); break;
        }
    }

    /// <summary>dpre (N, I) or (N, 2I) += d h / d pre * dh; dh (N, I).</summary>
    public static void Backward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, ReadOnlySpan<float> dh,
        Span<float> dpre, int n, int inter)
    {
        if (gated)
        {
            fixed (float* pp = pre, pdh = dh, pd = dpre)
            {
                nint src = (nint)pp, g = (nint)pdh, dst = (nint)pd;
                RowParallel.For(n, 12L * inter, (lo, hi) =>
                {
                    for (var r = lo; r < hi; r++)
                    {
                        var row = (float*)src + (long)r * 2 * inter;
                        var drow = (float*)dst + (long)r * 2 * inter;
                        SwiGlu.Backward(new Span<float>(drow, inter), new Span<float>(drow + inter, inter),
                            new ReadOnlySpan<float>((float*)g + (long)r * inter, inter), new ReadOnlySpan<float>(row, inter),
                            new ReadOnlySpan<float>(row + inter, inter), inter);
                    }
                });
            }
            return;
        }
        var count = n * inter;
        switch (kind)
        {
            case ActivationKind.GeluExact: Gelu.Backward(dpre[..count], dh[..count], pre[..count], count); break;
            case ActivationKind.GeluTanh: GeluTanh.Backward(dpre[..count], dh[..count], pre[..count], count); break;
            default: Silu.Backward(dpre[..count], dh[..count], pre[..count], count); break;
        }
    }
}
