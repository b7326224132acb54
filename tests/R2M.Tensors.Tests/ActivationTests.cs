using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class ActivationTests
{
    /// <summary>erf by its Maclaurin series in double (accurate to ~1e-12 for |z| &lt;= 3).</summary>
    internal static double Erf(double z)
    {
        double sum = 0, term = z;
        for (int n = 0; n < 200; n++)
        {
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            term *= -z * z / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static double[] Map(double[] x, Func<double, double> f) => Array.ConvertAll(x, v => f(v));

    private static double GeluRef(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));
    private static double GeluTanhRef(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    private static double SiluRef(double x) => x / (1 + Math.Exp(-x));

    public static TheoryData<string> Kinds => new() { "gelu", "gelu_tanh", "silu" };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Activation_ForwardAndBackward_MatchDoubleReference(string kind)
    {
        var rng = new Random(kind.Length);
        int n = 3000; // spans several 1024 blocks plus a tail
        var x = RandomFloats(rng, n, 4);
        var dy = RandomFloats(rng, n);
        Func<double, double> f = kind switch { "gelu" => GeluRef, "gelu_tanh" => GeluTanhRef, _ => SiluRef };
        var y = new float[n];
        var dx0 = Preset(rng, n);
        var dx = (float[])dx0.Clone();
        switch (kind)
        {
            case "gelu": Gelu.Forward(y, x, n); Gelu.Backward(dx, dy, x, n); break;
            case "gelu_tanh": GeluTanh.Forward(y, x, n); GeluTanh.Backward(dx, dy, x, n); break;
            default: Silu.Forward(y, x, n); Silu.Backward(dx, dy, x, n); break;
        }
        var xd = ToDouble(x);
        AssertClose(y, Map(xd, f), 2e-6, "y");
        // Elementwise: the gradient of sum(dy*f(x)) is dy_i f'(x_i); one central difference per element.
        var g = new double[n];
        for (int i = 0; i < n; i++)
        {
            g[i] = dy[i] * (f(xd[i] + 1e-5) - f(xd[i] - 1e-5)) / 2e-5;
        }
        AssertClose(dx, g, 1e-4, "dx", dx0);
    }

    [Fact]
    public void Gelu_NegativeTail_KeepsRelativePrecision()
    {
        // Phi(-5) = 2.866515718791939e-7 and Phi(-8) = 6.22096057427178e-16 (standard normal tables).
        var x = new float[] { -5f, -8f, 0f, 5f };
        var y = new float[4];
        Gelu.Forward(y, x, 4);
        Assert.InRange(y[0] / (-5 * 2.866515718791939e-7), 1 - 1e-5, 1 + 1e-5);
        Assert.InRange(y[1] / (-8 * 6.22096057427178e-16), 1 - 1e-5, 1 + 1e-5);
        Assert.Equal(0f, y[2]);
        Assert.InRange(y[3], 5 * (1 - 2.9e-7) - 1e-6, 5 * (1 - 2.8e-7) + 1e-6);
    }

    [Fact]
    public void SwiGlu_Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(11);
        int n = 1500;
        var gate = RandomFloats(rng, n, 4);
        var up = RandomFloats(rng, n, 2);
        var dy = RandomFloats(rng, n);
        var y = new float[n];
        SwiGlu.Forward(y, gate, up, n);
        double[] gd = ToDouble(gate), ud = ToDouble(up);
        var yRef = new double[n];
        var dgRef = new double[n];
        for (int i = 0; i < n; i++)
        {
            yRef[i] = SiluRef(gd[i]) * ud[i];
            dgRef[i] = dy[i] * ud[i] * (SiluRef(gd[i] + 1e-5) - SiluRef(gd[i] - 1e-5)) / 2e-5;
        }
        AssertClose(y, yRef, 2e-6, "y");
        var dg0 = Preset(rng, n);
        var du0 = Preset(rng, n);
        float[] dg = (float[])dg0.Clone(), du = (float[])du0.Clone();
        SwiGlu.Backward(dg, du, dy, gate, up, n);
        AssertClose(dg, dgRef, 1e-4, "dgate", dg0);
        AssertClose(du, Array.ConvertAll(Enumerable.Range(0, n).ToArray(), i => dy[i] * SiluRef(gd[i])), 1e-5, "dup", du0);
    }

    [Fact]
    public void Activations_ZeroLength_DoNothing()
    {
        Gelu.Forward(Span<float>.Empty, ReadOnlySpan<float>.Empty, 0);
        Silu.Backward(Span<float>.Empty, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, 0);
        var ex = Assert.Throws<ArgumentException>(() => Gelu.Forward(new float[2], new float[3], 3));
        Assert.Equal("output", ex.ParamName);
    }
}
