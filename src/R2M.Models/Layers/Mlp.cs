using R2M.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// The MLP non-linearities over whole activations. Plain: h = act(pre). Gated (Llama SwiGLU):
/// pre holds [gate | up] per row (the fused gate_proj/up_proj GEMM) and h = act(gate) * up
/// (REFERENCE.md section 3, Llama). GELU, GELU-tanh, SiLU and SwiGLU run on the vectorised
/// R2M.Tensors kernels; quick_gelu and relu on the scalar formulas of <see cref="Activations"/>.
/// </summary>
internal static unsafe class Mlp
{
    /// <param name="pre">(N, I) plain or (N, 2I) gated, [gate | up] per row</param>
    /// <param name="h">(N, I)</param>
    public static void Forward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, Span<float> h, int n, int inter)
    {
        if (!gated)
        {
            var count = n * inter;
            switch (kind)
            {
                case ActivationKind.GeluExact: Gelu.Forward(h[..count], pre[..count], count); return;
                case ActivationKind.GeluTanh: GeluTanh.Forward(h[..count], pre[..count], count); return;
                case ActivationKind.Silu: Silu.Forward(h[..count], pre[..count], count); return;
            }
        }
        fixed (float* pp = pre, ph = h)
        {
            nint preP = (nint)pp, hP = (nint)ph;
            var width = gated ? 2 * inter : inter;
            Par.For(n, (lo, hi) =>
            {
                for (var r = lo; r < hi; r++)
                {
                    var row = new ReadOnlySpan<float>((float*)preP + (long)r * width, width);
                    var outRow = new Span<float>((float*)hP + (long)r * inter, inter);
                    if (gated && kind == ActivationKind.Silu)
                    {
                        SwiGlu.Forward(outRow, row[..inter], row[inter..], inter);
                        continue;
                    }
                    for (var i = 0; i < inter; i++)
                        outRow[i] = gated ? Activations.Forward(kind, row[i]) * row[inter + i] : Activations.Forward(kind, row[i]);
                }
            }, 4);
        }
    }

    /// <summary>dpre = d h / d pre * dh (overwrites dpre).</summary>
    /// <param name="pre">(N, I) or (N, 2I)</param>
    /// <param name="dh">(N, I)</param>
    /// <param name="dpre">(N, I) or (N, 2I)</param>
    public static void Backward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, ReadOnlySpan<float> dh,
        Span<float> dpre, int n, int inter)
    {
        if (!gated && kind is ActivationKind.GeluExact or ActivationKind.GeluTanh or ActivationKind.Silu)
        {
            var count = n * inter;
            dpre[..count].Clear();
            if (kind == ActivationKind.GeluExact)
                Gelu.Backward(dpre[..count], dh[..count], pre[..count], count);
            else if (kind == ActivationKind.GeluTanh)
                GeluTanh.Backward(dpre[..count], dh[..count], pre[..count], count);
            else
                Silu.Backward(dpre[..count], dh[..count], pre[..count], count);
            return;
        }
        fixed (float* pp = pre, pdh = dh, pd = dpre)
        {
            nint preP = (nint)pp, dhP = (nint)pdh, dP = (nint)pd;
            var width = gated ? 2 * inter : inter;
            Par.For(n, (lo, hi) =>
            {
                for (var r = lo; r < hi; r++)
                {
                    var row = new ReadOnlySpan<float>((float*)preP + (long)r * width, width);
                    var g = new ReadOnlySpan<float>((float*)dhP + (long)r * inter, inter);
                    var d = new Span<float>((float*)dP + (long)r * width, width);
                    if (gated && kind == ActivationKind.Silu)
                    {
                        d.Clear();
                        SwiGlu.Backward(d[..inter], d[inter..], g, row[..inter], row[inter..], inter);
                        continue;
                    }
                    for (var i = 0; i < inter; i++)
                    {
                        if (gated)
                        {
                            d[i] = g[i] * row[inter + i] * Activations.Derivative(kind, row[i]);
                            d[inter + i] = g[i] * Activations.Forward(kind, row[i]);
                        }
                        else
                        {
                            d[i] = g[i] * Activations.Derivative(kind, row[i]);
                        }
                    }
                }
            }, 4);
        }
    }
}
