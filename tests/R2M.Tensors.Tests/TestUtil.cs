namespace R2M.Tensors.Tests;

/// <summary>Random data, double-precision finite differences and tolerance checks for kernel tests.</summary>
internal static class TestUtil
{
    public static float[] RandomFloats(Random rng, int count, double scale = 1.0)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        }
        return x;
    }

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);

    /// <summary>Central differences of a double-precision loss at x (x restored afterwards).</summary>
    public static double[] NumericGradient(Func<double[], double> loss, double[] x, double h = 1e-5)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + h;
            double up = loss(x);
            x[i] = saved - h;
            double down = loss(x);
            x[i] = saved;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /// <summary>Loss = sum(dy * y) so that dL/dy = dy: the backward of a kernel seeded with dy.</summary>
    public static double Dot(double[] y, float[] dy)
    {
        double s = 0;
        for (int i = 0; i < y.Length; i++)
        {
            s += y[i] * dy[i];
        }
        return s;
    }

    /// <summary>
    /// |actual - expected| &lt;= rtol * (|expected| + scale) elementwise, scale = max |expected|
    /// (relative to the tensor's magnitude, so entries near zero are not held to a tighter bound
    /// than fp32 allows). offset is subtracted from actual first (tests of gradient accumulation).
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, double[] expected, double rtol, string what, float[]? offset = null)
    {
        Assert.True(actual.Length >= expected.Length, $"{what}: length {actual.Length} < {expected.Length}");
        double scale = 0;
        foreach (double e in expected)
        {
            scale = Math.Max(scale, Math.Abs(e));
        }
        scale = Math.Max(scale, 1e-6);
        for (int i = 0; i < expected.Length; i++)
        {
            double a = actual[i] - (offset?[i] ?? 0f);
            double tol = rtol * (Math.Abs(expected[i]) + scale);
            Assert.True(Math.Abs(a - expected[i]) <= tol && !double.IsNaN(a),
                $"{what}[{i}]: got {a}, expected {expected[i]} (tol {tol:g3})");
        }
    }

    /// <summary>Gradient buffer pre-filled with noise; kernels must add to it, not overwrite.</summary>
    public static float[] Preset(Random rng, int count) => RandomFloats(rng, count, 0.5);

    public static float[] Random01Mask(Random rng, int count)
    {
        var m = new float[count];
        for (int i = 0; i < count; i++)
        {
            m[i] = rng.Next(2);
        }
        return m;
    }
}
