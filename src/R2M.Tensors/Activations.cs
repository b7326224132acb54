using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// Exact GELU (HF "gelu", docs/specs.md section 3): y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).
/// .NET has no erf; the fused SIMD kernel in Kernels/GeluKernel.cs computes Phi from erfc with the
/// Numerical Recipes Chebyshev fit (fractional error below 1.2e-7), taking the negative tail from
/// erfc directly so that it keeps full relative precision (no 1 + erf(x) cancellation).
/// </summary>
public static unsafe class Gelu
{
    /// <summary>output (n) = gelu(input (n)); output may alias input.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(output.Length, count, nameof(output), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* po = output, pi = input)
        {
            nint o = (nint)po, x = (nint)pi;
            Elementwise.For(count, 20, (off, len) =>
                Kernels.GeluKernel.Forward(new ReadOnlySpan<float>((float*)x + off, len), new Span<float>((float*)o + off, len)));
        }
    }

    /// <summary>dinput (n) += doutput (n) * (Phi(x) + x phi(x)); input (n) is the forward input.</summary>
    public static void Backward(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(dinput.Length, count, nameof(dinput), "(n)");
        Check.Len(doutput.Length, count, nameof(doutput), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* pdx = dinput, pdy = doutput, pi = input)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, x = (nint)pi;
            Elementwise.For(count, 30, (off, len) =>
                Kernels.GeluKernel.Backward(new ReadOnlySpan<float>((float*)x + off, len),
                    new ReadOnlySpan<float>((float*)dy + off, len), new Span<float>((float*)dx + off, len)));
        }
    }
}

/// <summary>
/// Tanh-approximated GELU (HF "gelu_new"/"gelu_fast"): y = 0.5 x (1 + tanh(s (x + 0.044715 x^3))),
/// s = sqrt(2/pi).
/// </summary>
public static unsafe class GeluTanh
{
    private const float S = 0.79788456080286536f;
    private const float C3 = 0.044715f;

    /// <summary>output (n) = gelu_tanh(input (n)); output may alias input.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(output.Length, count, nameof(output), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* po = output, pi = input)
        {
            nint o = (nint)po, x = (nint)pi;
            Elementwise.For(count, 20, (off, len) =>
            {
                Span<float> th = stackalloc float[len];
                var xs = new ReadOnlySpan<float>((float*)x + off, len);
                Tanh(xs, th);
                Affine.Apply(th, 0.5f, 0.5f, th);
                TensorPrimitives.Multiply(xs, th, new Span<float>((float*)o + off, len));
            });
        }
    }

    /// <summary>
    /// dinput (n) += doutput (n) * [0.5 (1 + th) + 0.5 x (1 - th^2) s (1 + 3 c x^2)]; input (n) forward input.
    /// </summary>
    public static void Backward(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(dinput.Length, count, nameof(dinput), "(n)");
        Check.Len(doutput.Length, count, nameof(doutput), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* pdx = dinput, pdy = doutput, pi = input)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, x = (nint)pi;
            Elementwise.For(count, 30, (off, len) =>
            {
                Span<float> th = stackalloc float[len];
                Span<float> a = stackalloc float[len];
                Span<float> g = stackalloc float[len];
                var xs = new ReadOnlySpan<float>((float*)x + off, len);
                Tanh(xs, th);
                TensorPrimitives.Multiply(xs, xs, a);
                Affine.Apply(a, 3f * C3 * S, S, a);      // a = s (1 + 3 c x^2)
                TensorPrimitives.Multiply(th, th, g);
                TensorPrimitives.Subtract(1f, g, g);                      // g = 1 - th^2
                TensorPrimitives.Multiply(g, a, g);
                TensorPrimitives.Multiply(g, xs, g);
                TensorPrimitives.Multiply(g, 0.5f, g);                    // g = 0.5 x (1-th^2) a
                TensorPrimitives.MultiplyAdd(th, 0.5f, g, g);
                TensorPrimitives.Add(g, 0.5f, g);
                var dxs = new Span<float>((float*)dx + off, len);
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>((float*)dy + off, len), g, dxs, dxs);
            });
        }
    }

    private static void Tanh(ReadOnlySpan<float> x, Span<float> th)
    {
        TensorPrimitives.Multiply(x, x, th);
        Affine.Apply(th, C3 * S, S, th);
        TensorPrimitives.Multiply(th, x, th);
        TensorPrimitives.Tanh(th, th);
    }
}

/// <summary>SiLU (HF "silu"): y = x * sigmoid(x).</summary>
public static unsafe class Silu
{
    /// <summary>output (n) = silu(input (n)); output may alias input.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(output.Length, count, nameof(output), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* po = output, pi = input)
        {
            nint o = (nint)po, x = (nint)pi;
            Elementwise.For(count, 10, (off, len) =>
            {
                Span<float> s = stackalloc float[len];
                var xs = new ReadOnlySpan<float>((float*)x + off, len);
                TensorPrimitives.Sigmoid(xs, s);
                TensorPrimitives.Multiply(xs, s, new Span<float>((float*)o + off, len));
            });
        }
    }

    /// <summary>dinput (n) += doutput (n) * s (1 + x (1 - s)), s = sigmoid(x); input (n) forward input.</summary>
    public static void Backward(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<float> input, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(dinput.Length, count, nameof(dinput), "(n)");
        Check.Len(doutput.Length, count, nameof(doutput), "(n)");
        Check.Len(input.Length, count, nameof(input), "(n)");
        fixed (float* pdx = dinput, pdy = doutput, pi = input)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, x = (nint)pi;
            Elementwise.For(count, 15, (off, len) =>
            {
                Span<float> g = stackalloc float[len];
                var xs = new ReadOnlySpan<float>((float*)x + off, len);
                Derivative(xs, g);
                var dxs = new Span<float>((float*)dx + off, len);
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>((float*)dy + off, len), g, dxs, dxs);
            });
        }
    }

    /// <summary>g = d silu / dx = s (1 + x (1 - s)).</summary>
    internal static void Derivative(ReadOnlySpan<float> x, Span<float> g)
    {
        Span<float> s = stackalloc float[x.Length];
        TensorPrimitives.Sigmoid(x, s);
        TensorPrimitives.Subtract(1f, s, g);
        TensorPrimitives.MultiplyAdd(g, x, 1f, g);
        TensorPrimitives.Multiply(g, s, g);
    }
}

/// <summary>SwiGLU gate of the Llama MLP (docs/specs.md section 3): y = silu(gate) * up.</summary>
public static unsafe class SwiGlu
{
    /// <summary>output (n) = silu(gate (n)) * up (n); n = N*I. output may alias gate or up.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(output.Length, count, nameof(output), "(n)");
        Check.Len(gate.Length, count, nameof(gate), "(n)");
        Check.Len(up.Length, count, nameof(up), "(n)");
        fixed (float* po = output, pg = gate, pu = up)
        {
            nint o = (nint)po, g = (nint)pg, u = (nint)pu;
            Elementwise.For(count, 12, (off, len) =>
            {
                Span<float> s = stackalloc float[len];
                var gs = new ReadOnlySpan<float>((float*)g + off, len);
                TensorPrimitives.Sigmoid(gs, s);
                TensorPrimitives.Multiply(gs, s, s);
                TensorPrimitives.Multiply(s, new ReadOnlySpan<float>((float*)u + off, len), new Span<float>((float*)o + off, len));
            });
        }
    }

    /// <summary>
    /// Accumulates dgate (n) += dout * up * silu'(gate); dup (n) += dout * silu(gate).
    /// doutput (n); gate (n), up (n) forward inputs.
    /// </summary>
    public static void Backward(Span<float> dgate, Span<float> dup, ReadOnlySpan<float> doutput,
        ReadOnlySpan<float> gate, ReadOnlySpan<float> up, int count)
    {
        Check.Dims(count, nameof(count));
        Check.Len(dgate.Length, count, nameof(dgate), "(n)");
        Check.Len(dup.Length, count, nameof(dup), "(n)");
        Check.Len(doutput.Length, count, nameof(doutput), "(n)");
        Check.Len(gate.Length, count, nameof(gate), "(n)");
        Check.Len(up.Length, count, nameof(up), "(n)");
        fixed (float* pdg = dgate, pdu = dup, pdy = doutput, pg = gate, pu = up)
        {
            nint dg = (nint)pdg, du = (nint)pdu, dy = (nint)pdy, g = (nint)pg, u = (nint)pu;
            Elementwise.For(count, 25, (off, len) =>
            {
                Span<float> t = stackalloc float[len];
                var gs = new ReadOnlySpan<float>((float*)g + off, len);
                var dys = new ReadOnlySpan<float>((float*)dy + off, len);
                var dus = new Span<float>((float*)du + off, len);
                var dgs = new Span<float>((float*)dg + off, len);
                TensorPrimitives.Sigmoid(gs, t);
                TensorPrimitives.Multiply(gs, t, t);                  // silu(gate)
                TensorPrimitives.MultiplyAdd(dys, t, dus, dus);
                Silu.Derivative(gs, t);
                TensorPrimitives.Multiply(t, new ReadOnlySpan<float>((float*)u + off, len), t);
                TensorPrimitives.MultiplyAdd(dys, t, dgs, dgs);
            });
        }
    }
}
