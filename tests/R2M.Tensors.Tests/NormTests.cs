using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class NormTests
{
    private static double[] LayerNormRef(double[] x, double[] w, double[] b, int n, int c, double eps)
    {
        var y = new double[n * c];
        for (int r = 0; r < n; r++)
        {
            double mean = 0, var = 0;
            for (int j = 0; j < c; j++) mean += x[r * c + j];
            mean /= c;
            for (int j = 0; j < c; j++) var += (x[r * c + j] - mean) * (x[r * c + j] - mean);
            var /= c;
            double rs = 1 / Math.Sqrt(var + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - mean) * rs * w[j] + b[j];
        }
        return y;
    }

    private static double[] RmsNormRef(double[] x, double[] w, int n, int c, double eps)
    {
        var y = new double[n * c];
        for (int r = 0; r < n; r++)
        {
            double ms = 0;
            for (int j = 0; j < c; j++) ms += x[r * c + j] * x[r * c + j];
            double rs = 1 / Math.Sqrt(ms / c + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = x[r * c + j] * rs * w[j];
        }
        return y;
    }

    [Theory]
    [InlineData(5, 37)]
    [InlineData(3, 1)]
    [InlineData(4, 130)]
    public void LayerNorm_Backward_MatchesFiniteDifferences(int n, int c)
    {
        var rng = new Random(n * 100 + c);
        const float eps = 1e-5f;
        var x = RandomFloats(rng, n * c, 2);
        var w = RandomFloats(rng, c);
        var b = RandomFloats(rng, c);
        var dy = RandomFloats(rng, n * c);
        var y = new float[n * c];
        var mean = new float[n];
        var rstd = new float[n];
        LayerNorm.Forward(y, mean, rstd, x, w, b, n, c, eps);
        double[] xd = ToDouble(x), wd = ToDouble(w), bd = ToDouble(b);
        AssertClose(y, LayerNormRef(xd, wd, bd, n, c, eps), 1e-5, "y");

        var dx0 = Preset(rng, n * c);
        var dw0 = Preset(rng, c);
        var db0 = Preset(rng, c);
        float[] dx = (float[])dx0.Clone(), dw = (float[])dw0.Clone(), db = (float[])db0.Clone();
        LayerNorm.Backward(dx, dw, db, dy, x, w, mean, rstd, n, c);
        AssertClose(dx, NumericGradient(v => Dot(LayerNormRef(v, wd, bd, n, c, eps), dy), xd), 2e-3, "dx", dx0);
        AssertClose(dw, NumericGradient(v => Dot(LayerNormRef(xd, v, bd, n, c, eps), dy), wd), 2e-3, "dw", dw0);
        AssertClose(db, NumericGradient(v => Dot(LayerNormRef(xd, wd, v, n, c, eps), dy), bd), 2e-3, "db", db0);
    }

    [Theory]
    [InlineData(5, 37)]
    [InlineData(2, 200)]
    public void RmsNorm_Backward_MatchesFiniteDifferences(int n, int c)
    {
        var rng = new Random(n * 1000 + c);
        const float eps = 1e-6f;
        var x = RandomFloats(rng, n * c, 2);
        var w = RandomFloats(rng, c);
        var dy = RandomFloats(rng, n * c);
        var y = new float[n * c];
        var rstd = new float[n];
        RmsNorm.Forward(y, rstd, x, w, n, c, eps);
        double[] xd = ToDouble(x), wd = ToDouble(w);
        AssertClose(y, RmsNormRef(xd, wd, n, c, eps), 1e-5, "y");

        var dx0 = Preset(rng, n * c);
        var dw0 = Preset(rng, c);
        float[] dx = (float[])dx0.Clone(), dw = (float[])dw0.Clone();
        RmsNorm.Backward(dx, dw, dy, x, w, rstd, n, c);
        AssertClose(dx, NumericGradient(v => Dot(RmsNormRef(v, wd, n, c, eps), dy), xd), 2e-3, "dx", dx0);
        AssertClose(dw, NumericGradient(v => Dot(RmsNormRef(xd, v, n, c, eps), dy), wd), 2e-3, "dw", dw0);
    }

    [Fact]
    public void LayerNorm_InPlaceWithoutSaving_MatchesOutOfPlace()
    {
        var rng = new Random(3);
        var x = RandomFloats(rng, 4 * 2000);
        var w = RandomFloats(rng, 2000);
        var b = RandomFloats(rng, 2000);
        var y = new float[x.Length];
        LayerNorm.Forward(y, new float[4], new float[4], x, w, b, 4, 2000, 1e-5f);
        LayerNorm.Forward(x, default, default, x, w, b, 4, 2000, 1e-5f);
        Assert.Equal(y, x);
    }

    [Fact]
    public void LayerNorm_ShortWeight_ThrowsNamingWeight()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            LayerNorm.Forward(new float[6], default, default, new float[6], new float[2], new float[3], 2, 3, 1e-5f));
        Assert.Equal("weight", ex.ParamName);
    }
}
