using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class SoftmaxTests
{
    private static double[] LogSoftmaxRef(double[] x, int n, int v)
    {
        var y = new double[n * v];
        for (int r = 0; r < n; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < v; j++) max = Math.Max(max, x[r * v + j]);
            for (int j = 0; j < v; j++) sum += Math.Exp(x[r * v + j] - max);
            for (int j = 0; j < v; j++) y[r * v + j] = x[r * v + j] - max - Math.Log(sum);
        }
        return y;
    }

    [Fact]
    public void Softmax_Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(1);
        int n = 4, v = 37;
        var x = RandomFloats(rng, n * v, 5);
        var p = new float[n * v];
        Softmax.Forward(p, x, n, v);
        var xd = ToDouble(x);
        Func<double[], double[]> f = z => Array.ConvertAll(LogSoftmaxRef(z, n, v), Math.Exp);
        AssertClose(p, f(xd), 1e-5, "p");
        var dy = RandomFloats(rng, n * v);
        var dx0 = Preset(rng, n * v);
        var dx = (float[])dx0.Clone();
        Softmax.Backward(dx, dy, p, n, v);
        AssertClose(dx, NumericGradient(z => Dot(f(z), dy), xd), 2e-3, "dx", dx0);
    }

    [Fact]
    public void Softmax_LargeLogits_AreStableAndAllMaskedRowIsZero()
    {
        var x = new float[] { 1000f, 1001f, float.NegativeInfinity, float.NegativeInfinity };
        var p = new float[4];
        Softmax.Forward(p, x, 2, 2);
        Assert.Equal(1 / (1 + Math.E), p[0], 1e-6);
        Assert.Equal(new float[] { 0, 0 }, p[2..]);
    }

    [Fact]
    public void LogSoftmax_Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(2);
        int n = 3, v = 50;
        var x = RandomFloats(rng, n * v, 5);
        var y = new float[n * v];
        LogSoftmax.Forward(y, x, n, v);
        var xd = ToDouble(x);
        AssertClose(y, LogSoftmaxRef(xd, n, v), 1e-6, "y");
        var dy = RandomFloats(rng, n * v);
        var dx0 = Preset(rng, n * v);
        var dx = (float[])dx0.Clone();
        LogSoftmax.Backward(dx, dy, y, n, v);
        AssertClose(dx, NumericGradient(z => Dot(LogSoftmaxRef(z, n, v), dy), xd), 2e-3, "dx", dx0);
    }

    [Theory]
    [InlineData(0.7f)]
    [InlineData(1.3f)]
    public void CrossEntropy_Temperature_MatchesFiniteDifferences(float tau)
    {
        var rng = new Random(11);
        int n = 4, v = 37;
        var x = RandomFloats(rng, n * v, 5);
        var targets = new[] { 36, -1, 0, 17 };
        var lp = new float[n];
        var lse = new float[n];
        CrossEntropy.Forward(lp, lse, x, targets, n, v, tau);
        var xd = ToDouble(x);
        // log_softmax(x / tau)[target] in double (TRL's temperature-scaled log-probs).
        Func<double[], double[]> f = z =>
        {
            var ls = LogSoftmaxRef(Array.ConvertAll(z, e => e / tau), n, v);
            return Enumerable.Range(0, n).Select(r => targets[r] < 0 ? 0 : ls[r * v + targets[r]]).ToArray();
        };
        AssertClose(lp, f(xd), 1e-6, "logprobs");
        var dlp = RandomFloats(rng, n);
        var dx0 = Preset(rng, n * v);
        var dx = (float[])dx0.Clone();
        CrossEntropy.Backward(dx, dlp, x, lse, targets, n, v, tau);
        AssertClose(dx, NumericGradient(z => Dot(f(z), dlp), xd), 2e-3, "dlogits", dx0);
        Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.Forward(lp, lse, x, targets, n, v, 0f));
    }

    [Fact]
    public void CrossEntropy_LogProbsAndBackward_MatchReference()
    {
        var rng = new Random(3);
        int n = 5, v = 300;
        var x = RandomFloats(rng, n * v, 6);
        var targets = new[] { 3, 299, -100, 0, 150 };
        var lp = new float[n];
        var lse = new float[n];
        CrossEntropy.Forward(lp, lse, x, targets, n, v);
        var xd = ToDouble(x);
        Func<double[], double[]> f = z =>
        {
            var ls = LogSoftmaxRef(z, n, v);
            return Enumerable.Range(0, n).Select(r => targets[r] < 0 ? 0 : ls[r * v + targets[r]]).ToArray();
        };
        AssertClose(lp, f(xd), 1e-6, "logprobs");
        Assert.Equal(0f, lp[2]);
        var dlp = RandomFloats(rng, n);
        var dx0 = Preset(rng, n * v);
        var dx = (float[])dx0.Clone();
        CrossEntropy.Backward(dx, dlp, x, lse, targets, n, v);
        AssertClose(dx, NumericGradient(z => Dot(f(z), dlp), xd), 2e-3, "dlogits", dx0);
        for (int j = 0; j < v; j++)
        {
            Assert.Equal(dx0[2 * v + j], dx[2 * v + j]); // ignored row untouched
        }
        double mean = -(lp[0] + lp[1] + lp[3] + lp[4]) / 4.0;
        Assert.Equal(mean, CrossEntropy.MeanLoss(lp, targets), 1e-5);
    }

    [Fact]
    public void CrossEntropy_TargetOutOfVocabulary_ThrowsNamingTargets()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            CrossEntropy.Forward(new float[1], default, new float[4], new[] { 4 }, 1, 4));
        Assert.Equal("targets", ex.ParamName);
        Assert.Contains("targets[0] = 4", ex.Message);
    }
}
