using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class RotaryTests
{
    private static double[] RopeRef(double[] x, int[] pos, float[] inv, int rows, int nh, int hd, int r)
    {
        var y = (double[])x.Clone();
        int half = r / 2;
        for (int n = 0; n < rows; n++)
        {
            for (int h = 0; h < nh; h++)
            {
                int o = (n * nh + h) * hd;
                for (int j = 0; j < half; j++)
                {
                    double a = (float)pos[n] * inv[j]; // angle formed in fp32 like HF
                    a = (float)a;
                    y[o + j] = x[o + j] * Math.Cos(a) - x[o + j + half] * Math.Sin(a);
                    y[o + j + half] = x[o + j + half] * Math.Cos(a) + x[o + j] * Math.Sin(a);
                }
            }
        }
        return y;
    }

    [Theory]
    [InlineData(16, 4)]   // partial rotary (GPT-NeoX rotary_pct 0.25)
    [InlineData(8, 8)]    // full head (Llama)
    [InlineData(6, 0)]    // no rotation
    public void Rotary_ForwardAndBackward_MatchReference(int hd, int r)
    {
        var rng = new Random(hd * 10 + r);
        int rows = 6, nh = 3;
        var pos = new[] { 0, 1, 2, 7, 100, 513 };
        var inv = r > 0 ? Rotary.InverseFrequencies(r, 10000) : [];
        var x = RandomFloats(rng, rows * nh * hd);
        var y = new float[x.Length];
        Rotary.Forward(y, x, pos, inv, rows, nh, hd, r);
        var xd = ToDouble(x);
        AssertClose(y, RopeRef(xd, pos, inv, rows, nh, hd, r), 1e-5, "y");

        var dy = RandomFloats(rng, x.Length);
        var dx0 = Preset(rng, x.Length);
        var dx = (float[])dx0.Clone();
        Rotary.Backward(dx, dy, pos, inv, rows, nh, hd, r);
        AssertClose(dx, NumericGradient(v => Dot(RopeRef(v, pos, inv, rows, nh, hd, r), dy), xd), 1e-4, "dx", dx0);

        // In place gives the same as out of place.
        Rotary.Forward(x, x, pos, inv, rows, nh, hd, r);
        Assert.Equal(y, x);
    }

    [Fact]
    public void InverseFrequencies_Default_IsBasePowers()
    {
        var inv = Rotary.InverseFrequencies(8, 10000);
        Assert.Equal(4, inv.Length);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Math.Pow(10000, -2.0 * i / 8), inv[i], 1e-7);
        }
    }

    [Fact]
    public void InverseFrequencies_Linear_DividesByFactor()
    {
        var a = Rotary.InverseFrequencies(16, 10000);
        var b = Rotary.InverseFrequencies(16, 10000, new RopeScaling("linear", 4f));
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(a[i] / 4f, b[i], 6);
        }
    }

    [Fact]
    public void InverseFrequencies_Llama3_FollowsThreeBands()
    {
        // Llama-3.1 values: factor 8, low 1, high 4, original context 8192, theta 500000, head 128.
        var s = new RopeScaling("llama3", 8f, 1f, 4f, 8192);
        var a = Rotary.InverseFrequencies(128, 500000);
        var b = Rotary.InverseFrequencies(128, 500000, s);
        int high = 0, low = 0, mid = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double wavelen = 2 * Math.PI / a[i];
            if (wavelen < 8192 / 4.0)
            {
                Assert.Equal(a[i], b[i]);
                high++;
            }
            else if (wavelen > 8192 / 1.0)
            {
                Assert.Equal(a[i] / 8f, b[i], 1e-6 * a[i]);
                low++;
            }
            else
            {
                double smooth = (8192 / wavelen - 1) / 3;
                Assert.Equal((1 - smooth) * a[i] / 8 + smooth * a[i], b[i], 1e-5 * a[i]);
                Assert.InRange(b[i], a[i] / 8f, a[i]);
                mid++;
            }
        }
        Assert.True(high > 0 && low > 0 && mid > 0, $"bands {high}/{mid}/{low}");
    }

    [Fact]
    public void InverseFrequencies_UnknownType_Throws()
    {
        Assert.Throws<NotSupportedException>(() => Rotary.InverseFrequencies(8, 10000, new RopeScaling("yarn", 2f)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rotary.InverseFrequencies(7, 10000));
    }
}
