namespace R2M.Models.Layers;

/// <summary>
/// The MLP non-linearities over whole activations. Plain: h = act(pre). Gated (Llama SwiGLU):
/// pre holds [gate | up] per row and h = act(gate) * up (REFERENCE.md section 3, Llama).
/// </summary>
internal static class Mlp
{
    /// <param name="pre">(N, I) plain or (N, 2I) gated, [gate | up] per row</param>
    /// <param name="h">(N, I)</param>
    public static void Forward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, Span<float> h, int n, int inter)
    {
        unsafe
        {
            fixed (float* pp = pre, ph = h)
            {
                var preP = (nint)pp;
                var hP = (nint)ph;
                var width = gated ? 2 * inter : inter;
                Par.For(n, (lo, hi) =>
                {
                    for (var r = lo; r < hi; r++)
                    {
                        var row = new ReadOnlySpan<float>((float*)preP + (long)r * width, width);
                        var outRow = new Span<float>((float*)hP + (long)r * inter, inter);
                        for (var i = 0; i < inter; i++)
                            outRow[i] = gated ? Activations.Forward(kind, row[i]) * row[inter + i] : Activations.Forward(kind, row[i]);
                    }
                }, 4);
            }
        }
    }

    /// <summary>dpre = d h / d pre * dh (overwrites dpre).</summary>
    /// <param name="pre">(N, I) or (N, 2I)</param>
    /// <param name="dh">(N, I)</param>
    /// <param name="dpre">(N, I) or (N, 2I)</param>
    public static void Backward(ActivationKind kind, bool gated, ReadOnlySpan<float> pre, ReadOnlySpan<float> dh,
        Span<float> dpre, int n, int inter)
    {
        unsafe
        {
            fixed (float* pp = pre, pdh = dh, pd = dpre)
            {
                var preP = (nint)pp;
                var dhP = (nint)pdh;
                var dP = (nint)pd;
                var width = gated ? 2 * inter : inter;
                Par.For(n, (lo, hi) =>
                {
                    for (var r = lo; r < hi; r++)
                    {
                        var row = new ReadOnlySpan<float>((float*)preP + (long)r * width, width);
                        var g = new ReadOnlySpan<float>((float*)dhP + (long)r * inter, inter);
                        var d = new Span<float>((float*)dP + (long)r * width, width);
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
}
