using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace R2M.Tensors.Kernels;

/// <summary>
/// Fused exact-GELU kernels: one pass per element instead of a chain of TensorPrimitives passes.
/// Phi(x) = 0.5 erfc(-x / sqrt 2) with erfc from the Numerical Recipes (2nd ed., section 6.2)
/// Chebyshev fit "erfcc" (fractional error below 1.2e-7): for z = |x|/sqrt2, t = 1/(1 + z/2),
/// r = erfc(z) = t exp(-z^2 + P(t)); Phi = r/2 for x &lt; 0 (no cancellation in the tail) and
/// 1 - r/2 otherwise. d gelu/dx = Phi(x) + x exp(-x^2/2)/sqrt(2 pi).
/// Vector paths (Vector512, else Vector256) run the same arithmetic as the scalar twins; the tail
/// that does not fill a vector goes through the scalar twin.
/// </summary>
internal static class GeluKernel
{
    private const float InvSqrt2 = 0.70710678118654752f;
    private const float InvSqrt2Pi = 0.39894228040143268f;
    private const float C0 = -1.26551223f, C1 = 1.00002368f, C2 = 0.37409196f, C3 = 0.09678418f, C4 = -0.18628806f;
    private const float C5 = 0.27886807f, C6 = -1.13520398f, C7 = 1.48851587f, C8 = -0.82215223f, C9 = 0.17087277f;

    /// <summary>y[i] = gelu(x[i]); y may alias x.</summary>
    public static void Forward(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= x.Length; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                (v * Phi512(v)).CopyTo(y.Slice(i, 16));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                (v * Phi256(v)).CopyTo(y.Slice(i, 8));
            }
        }
        ForwardScalar(x[i..], y[i..]);
    }

    /// <summary>dx[i] += dy[i] * gelu'(x[i]).</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 16 <= x.Length; i += 16)
            {
                var v = Vector512.Create(x.Slice(i, 16));
                var dens = Vector512.Exp(v * v * -0.5f) * InvSqrt2Pi;
                var g = Vector512.FusedMultiplyAdd(v, dens, Phi512(v));
                Vector512.FusedMultiplyAdd(Vector512.Create(dy.Slice(i, 16)), g, Vector512.Create(dx.Slice(i, 16))).CopyTo(dx.Slice(i, 16));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var dens = Vector256.Exp(v * v * -0.5f) * InvSqrt2Pi;
                var g = Vector256.FusedMultiplyAdd(v, dens, Phi256(v));
                Vector256.FusedMultiplyAdd(Vector256.Create(dy.Slice(i, 8)), g, Vector256.Create(dx.Slice(i, 8))).CopyTo(dx.Slice(i, 8));
            }
        }
        BackwardScalar(x[i..], dy[i..], dx[i..]);
    }

    /// <summary>Scalar twin of <see cref="Forward"/>.</summary>
    public static void ForwardScalar(ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = x[i] * PhiScalar(x[i]);
        }
    }

    /// <summary>Scalar twin of <see cref="Backward"/>.</summary>
    public static void BackwardScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            float dens = MathF.Exp(v * v * -0.5f) * InvSqrt2Pi;
            float g = MathF.FusedMultiplyAdd(v, dens, PhiScalar(v));
            dx[i] = MathF.FusedMultiplyAdd(dy[i], g, dx[i]);
        }
    }

    internal static float PhiScalar(float x)
    {
        float z = MathF.Abs(x) * InvSqrt2;
        float t = 1f / MathF.FusedMultiplyAdd(z, 0.5f, 1f);
        float p = MathF.FusedMultiplyAdd(t, C9, C8);
        p = MathF.FusedMultiplyAdd(p, t, C7);
        p = MathF.FusedMultiplyAdd(p, t, C6);
        p = MathF.FusedMultiplyAdd(p, t, C5);
        p = MathF.FusedMultiplyAdd(p, t, C4);
        p = MathF.FusedMultiplyAdd(p, t, C3);
        p = MathF.FusedMultiplyAdd(p, t, C2);
        p = MathF.FusedMultiplyAdd(p, t, C1);
        p = MathF.FusedMultiplyAdd(p, t, C0);
        float half = 0.5f * t * MathF.Exp(p - z * z);
        return x < 0f ? half : 1f - half;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Phi512(Vector512<float> x)
    {
        var z = Vector512.Abs(x) * InvSqrt2;
        var t = Vector512<float>.One / Vector512.FusedMultiplyAdd(z, Vector512.Create(0.5f), Vector512<float>.One);
        var p = Vector512.FusedMultiplyAdd(t, Vector512.Create(C9), Vector512.Create(C8));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C7));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C6));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C5));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C4));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C3));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C2));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C1));
        p = Vector512.FusedMultiplyAdd(p, t, Vector512.Create(C0));
        var half = 0.5f * t * Vector512.Exp(p - z * z);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), half, Vector512<float>.One - half);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Phi256(Vector256<float> x)
    {
        var z = Vector256.Abs(x) * InvSqrt2;
        var t = Vector256<float>.One / Vector256.FusedMultiplyAdd(z, Vector256.Create(0.5f), Vector256<float>.One);
        var p = Vector256.FusedMultiplyAdd(t, Vector256.Create(C9), Vector256.Create(C8));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C7));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C6));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C5));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C4));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C3));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C2));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C1));
        p = Vector256.FusedMultiplyAdd(p, t, Vector256.Create(C0));
        var half = 0.5f * t * Vector256.Exp(p - z * z);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), half, Vector256<float>.One - half);
    }
}
