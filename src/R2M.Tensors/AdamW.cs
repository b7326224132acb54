using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// AdamW (Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2) in
/// the exact order of torch.optim.AdamW (single-tensor path): p *= 1 - lr*wd; m = b1 m + (1-b1) g;
/// v = b2 v + (1-b2) g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
/// Parameters, gradients and both moments are flat spans of the same length (one contiguous buffer each).
/// </summary>
public static unsafe class AdamW
{
    /// <summary>
    /// One step. param (P), grad (P), m (P), v (P) updated in place; step is 1-based (bias correction).
    /// </summary>
    public static void Step(Span<float> param, ReadOnlySpan<float> grad, Span<float> m, Span<float> v, int step,
        float lr, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
    {
        int count = param.Length;
        Check.Len(grad.Length, count, nameof(grad), "(P)");
        Check.Len(m.Length, count, nameof(m), "(P)");
        Check.Len(v.Length, count, nameof(v), "(P)");
        if (step < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(step), step, "AdamW step is 1-based");
        }
        float bc1 = 1f - MathF.Pow(beta1, step);
        float bc2Sqrt = MathF.Sqrt(1f - MathF.Pow(beta2, step));
        float stepSize = lr / bc1;
        float decay = 1f - lr * weightDecay;
        fixed (float* pp = param, pg = grad, pm = m, pv = v)
        {
            nint p = (nint)pp, g = (nint)pg, mm = (nint)pm, vv = (nint)pv;
            Elementwise.For(count, 12, (off, len) =>
            {
                var ps = new Span<float>((float*)p + off, len);
                var gs = new ReadOnlySpan<float>((float*)g + off, len);
                var ms = new Span<float>((float*)mm + off, len);
                var vs = new Span<float>((float*)vv + off, len);
                Span<float> t = stackalloc float[len];
                TensorPrimitives.Multiply(ps, decay, ps);
                // m = b1 m + (1-b1) g  (torch lerp_: m += (g - m)(1-b1))
                TensorPrimitives.Subtract(gs, ms, t);
                TensorPrimitives.MultiplyAdd(t, 1f - beta1, ms, ms);
                // v = b2 v + (1-b2) g^2
                TensorPrimitives.Multiply(gs, gs, t);
                TensorPrimitives.Multiply(t, 1f - beta2, t);
                TensorPrimitives.MultiplyAdd(vs, beta2, t, vs);
                // denom = sqrt(v)/bc2Sqrt + eps; p -= stepSize * m / denom
                TensorPrimitives.Sqrt(vs, t);
                Internal.Affine.Apply(t, 1f / bc2Sqrt, eps, t);
                TensorPrimitives.Divide(ms, t, t);
                TensorPrimitives.MultiplyAdd(t, -stepSize, ps, ps);
            });
        }
    }
}

/// <summary>Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (L2 over all gradients).</summary>
public static class GradClip
{
    /// <summary>sqrt(sum of squares) of grads (P), accumulated in double over blocks.</summary>
    public static float GlobalNorm(ReadOnlySpan<float> grads)
    {
        double sum = 0;
        for (int off = 0; off < grads.Length; off += 4096)
        {
            sum += TensorPrimitives.SumOfSquares(grads.Slice(off, Math.Min(4096, grads.Length - off)));
        }
        return (float)Math.Sqrt(sum);
    }

    /// <summary>
    /// Scales grads (P) by maxNorm / (norm + 1e-6) when that is below 1 (torch's clip_coef, clamped);
    /// returns the norm before clipping.
    /// </summary>
    public static float ClipByGlobalNorm(Span<float> grads, float maxNorm)
    {
        if (!(maxNorm > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "maxNorm must be > 0");
        }
        float norm = GlobalNorm(grads);
        float coef = maxNorm / (norm + 1e-6f);
        if (coef < 1f)
        {
            TensorPrimitives.Multiply(grads, coef, grads);
        }
        return norm;
    }
}
