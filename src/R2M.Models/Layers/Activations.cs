namespace R2M.Models.Layers;

/// <summary>Activation kinds (REFERENCE.md section 3, Activations).</summary>
internal enum ActivationKind { GeluExact, GeluTanh, Silu, QuickGelu, Relu }

/// <summary>
/// Element-wise activations, forward and backward side by side. Exact GELU uses the erf rational
/// approximation of Numerical Recipes (erfc, fractional error below 1.2e-7), evaluated in double.
/// </summary>
internal static class Activations
{
    private const double Sqrt2OverPi = 0.7978845608028654;
    private const double InvSqrt2 = 0.7071067811865476;
    private const double InvSqrt2Pi = 0.3989422804014327;

    public static bool IsKnown(string name) => TryParse(name, out _);

    public static bool TryParse(string name, out ActivationKind kind)
    {
        kind = name switch
        {
            "gelu" => ActivationKind.GeluExact,
            "gelu_new" or "gelu_fast" or "gelu_pytorch_tanh" => ActivationKind.GeluTanh,
            "silu" or "swish" => ActivationKind.Silu,
            "quick_gelu" => ActivationKind.QuickGelu,
            "relu" => ActivationKind.Relu,
            _ => (ActivationKind)(-1),
        };
        return (int)kind >= 0;
    }

    public static ActivationKind Parse(string name) =>
        TryParse(name, out var k) ? k : throw new ArgumentException($"unsupported activation '{name}'", nameof(name));

    public static float Forward(ActivationKind kind, float xf)
    {
        double x = xf;
        return (float)(kind switch
        {
            ActivationKind.GeluExact => 0.5 * x * (1 + Erf(x * InvSqrt2)),
            ActivationKind.GeluTanh => 0.5 * x * (1 + Math.Tanh(Sqrt2OverPi * (x + 0.044715 * x * x * x))),
            ActivationKind.Silu => x / (1 + Math.Exp(-x)),
            ActivationKind.QuickGelu => x / (1 + Math.Exp(-1.702 * x)),
            _ => Math.Max(x, 0),
        });
    }

    /// <summary>d act(x) / dx.</summary>
    public static float Derivative(ActivationKind kind, float xf)
    {
        double x = xf;
        switch (kind)
        {
            case ActivationKind.GeluExact:
                return (float)(0.5 * (1 + Erf(x * InvSqrt2)) + x * InvSqrt2Pi * Math.Exp(-0.5 * x * x));
            case ActivationKind.GeluTanh:
                {
                    var t = Math.Tanh(Sqrt2OverPi * (x + 0.044715 * x * x * x));
                    return (float)(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * Sqrt2OverPi * (1 + 3 * 0.044715 * x * x));
                }
            case ActivationKind.Silu:
                {
                    var s = 1 / (1 + Math.Exp(-x));
                    return (float)(s * (1 + x * (1 - s)));
                }
            case ActivationKind.QuickGelu:
                {
                    var s = 1 / (1 + Math.Exp(-1.702 * x));
                    return (float)(s + 1.702 * x * s * (1 - s));
                }
            default:
                return x > 0 ? 1 : 0;
        }
    }

    /// <summary>y = act(x); x, y (n).</summary>
    public static void Forward(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y)
    {
        for (var i = 0; i < x.Length; i++)
            y[i] = Forward(kind, x[i]);
    }

    /// <summary>dx += dy * act'(x); x, dy, dx (n).</summary>
    public static void Backward(ActivationKind kind, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (var i = 0; i < x.Length; i++)
            dx[i] += dy[i] * Derivative(kind, x[i]);
    }

    /// <summary>erf via erfc = t exp(-z^2 + P(t)), t = 1/(1 + z/2) (Numerical Recipes 6.2, erfcc).</summary>
    public static double Erf(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + 0.5 * z);
        var r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
            + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
            + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - r : r - 1;
    }
}
