using System.Numerics.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// AdamW (Loshchilov and Hutter; torch.optim.AdamW semantics: decoupled decay p -= lr*wd*p, then
/// bias-corrected Adam step) over one contiguous parameter buffer.
/// </summary>
internal static unsafe class AdamW
{
    /// <param name="p">(P) parameters</param>
    /// <param name="g">(P) gradients</param>
    /// <param name="m">(P) first moment</param>
    /// <param name="v">(P) second moment</param>
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int step,
        float lr, float beta1, float beta2, float eps, float weightDecay)
    {
        var bc1 = 1 - MathF.Pow(beta1, step);
        var bc2 = 1 - MathF.Pow(beta2, step);
        fixed (float* pp = p, pg = g, pm = m, pv = v)
        {
            nint pP = (nint)pp, gP = (nint)pg, mP = (nint)pm, vP = (nint)pv;
            Par.For(p.Length, (lo, hi) =>
            {
                const int Chunk = 4096;
                var tmp = new float[Chunk];
                for (var i = lo; i < hi; i += Chunk)
                {
                    var n = Math.Min(Chunk, hi - i);
                    var ps = new Span<float>((float*)pP + i, n);
                    var gs = new ReadOnlySpan<float>((float*)gP + i, n);
                    var ms = new Span<float>((float*)mP + i, n);
                    var vs = new Span<float>((float*)vP + i, n);
                    var t = tmp.AsSpan(0, n);
                    TensorPrimitives.Multiply(ps, 1 - lr * weightDecay, ps);
                    TensorPrimitives.Multiply(ms, beta1, ms);
                    TensorPrimitives.MultiplyAdd(gs, 1 - beta1, ms, ms);
                    TensorPrimitives.Multiply(vs, beta2, vs);
                    TensorPrimitives.Multiply(gs, gs, t);
                    TensorPrimitives.MultiplyAdd(t, 1 - beta2, vs, vs);
                    // p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
                    TensorPrimitives.Divide(vs, bc2, t);
                    TensorPrimitives.Sqrt(t, t);
                    TensorPrimitives.Add(t, eps, t);
                    TensorPrimitives.Divide(ms, t, t);
                    TensorPrimitives.MultiplyAdd(t, -lr / bc1, ps, ps);
                }
            }, 1 << 14);
        }
    }
}
