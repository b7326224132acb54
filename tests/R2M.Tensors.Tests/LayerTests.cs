using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class LayerTests
{
    private static double[] LinearRef(double[] x, double[] w, double[]? b, int n, int i, int o)
    {
        var y = new double[n * o];
        for (int r = 0; r < n; r++)
        for (int c = 0; c < o; c++)
        {
            double s = b?[c] ?? 0;
            for (int p = 0; p < i; p++) s += x[r * i + p] * w[c * i + p];
            y[r * o + c] = s;
        }
        return y;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_Backward_MatchesFiniteDifferences(bool withBias)
    {
        var rng = new Random(withBias ? 1 : 2);
        int n = 6, inF = 13, outF = 9;
        var x = RandomFloats(rng, n * inF);
        var w = RandomFloats(rng, outF * inF);
        var b = withBias ? RandomFloats(rng, outF) : [];
        var y = TestUtil.RandomFloats(rng, n * outF); // garbage: Forward must overwrite
        Linear.Forward(y, x, w, b, n, inF, outF);
        double[] xd = ToDouble(x), wd = ToDouble(w);
        double[]? bd = withBias ? ToDouble(b) : null;
        AssertClose(y, LinearRef(xd, wd, bd, n, inF, outF), 1e-5, "y");
        var dy = RandomFloats(rng, n * outF);
        var dx0 = Preset(rng, n * inF);
        var dw0 = Preset(rng, outF * inF);
        var db0 = Preset(rng, outF);
        float[] dx = (float[])dx0.Clone(), dw = (float[])dw0.Clone(), db = withBias ? (float[])db0.Clone() : [];
        Linear.Backward(dx, dw, db, dy, x, w, n, inF, outF);
        AssertClose(dx, NumericGradient(v => Dot(LinearRef(v, wd, bd, n, inF, outF), dy), xd), 1e-3, "dx", dx0);
        AssertClose(dw, NumericGradient(v => Dot(LinearRef(xd, v, bd, n, inF, outF), dy), wd), 1e-3, "dw", dw0);
        if (withBias)
        {
            AssertClose(db, NumericGradient(v => Dot(LinearRef(xd, wd, v, n, inF, outF), dy), bd!), 1e-3, "db", db0);
        }
    }

    [Fact]
    public void Embedding_ForwardAndBackward_GatherAndScatterAdd()
    {
        var rng = new Random(4);
        int v = 5, c = 3;
        var table = RandomFloats(rng, v * c);
        var ids = new[] { 4, 0, 4, 2 };
        var y = new float[ids.Length * c];
        Embedding.Forward(y, ids, table, ids.Length, c, v);
        for (int n = 0; n < ids.Length; n++)
        for (int j = 0; j < c; j++)
            Assert.Equal(table[ids[n] * c + j], y[n * c + j]);
        var dy = RandomFloats(rng, y.Length);
        var dt0 = Preset(rng, table.Length);
        var dt = (float[])dt0.Clone();
        Embedding.Backward(dt, dy, ids, ids.Length, c, v);
        // The lookup is linear: d(sum dy*y)/dtable[id] = sum of dy rows with that id.
        var expected = new double[table.Length];
        for (int n = 0; n < ids.Length; n++)
        for (int j = 0; j < c; j++)
            expected[ids[n] * c + j] += dy[n * c + j];
        AssertClose(dt, expected, 1e-6, "dtable", dt0);
        var ex = Assert.Throws<ArgumentException>(() => Embedding.Forward(y, new[] { 0, 5, 0, 0 }, table, 4, c, v));
        Assert.Equal("ids", ex.ParamName);
        Assert.Contains("ids[1] = 5", ex.Message);
    }

    [Fact]
    public void Embedding_Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(8);
        int v = 6, c = 4;
        var table = RandomFloats(rng, v * c);
        var ids = new[] { 5, 1, 5, 0, 3 };
        var dy = RandomFloats(rng, ids.Length * c);
        var dt0 = Preset(rng, table.Length);
        var dt = (float[])dt0.Clone();
        Embedding.Backward(dt, dy, ids, ids.Length, c, v);
        Func<double[], double[]> gather = t => ids.SelectMany(id => t.Skip(id * c).Take(c)).ToArray();
        AssertClose(dt, NumericGradient(t => Dot(gather(t), dy), ToDouble(table)), 1e-6, "dtable", dt0);
    }

    [Fact]
    public void Residual_Backward_MatchesFiniteDifferences()
    {
        var rng = new Random(9);
        int n = 11;
        var a = RandomFloats(rng, n);
        var b = RandomFloats(rng, n);
        var dy = RandomFloats(rng, n);
        var da0 = Preset(rng, n);
        var db0 = Preset(rng, n);
        var da = (float[])da0.Clone();
        var db = (float[])db0.Clone();
        Residual.Backward(da, db, dy, n);
        var ad = ToDouble(a);
        var bd = ToDouble(b);
        AssertClose(da, NumericGradient(x => Dot(x.Zip(bd, (p, q) => p + q).ToArray(), dy), ad), 1e-6, "da", da0);
        AssertClose(db, NumericGradient(x => Dot(ad.Zip(x, (p, q) => p + q).ToArray(), dy), bd), 1e-6, "db", db0);
    }

    [Fact]
    public void Residual_ForwardAndBackward()
    {
        var a = new float[] { 1, 2, 3 };
        var b = new float[] { 10, 20, 30 };
        var y = new float[3];
        Residual.Forward(y, a, b, 3);
        Assert.Equal(new float[] { 11, 22, 33 }, y);
        var da = new float[] { 1, 1, 1 };
        var db = new float[3];
        Residual.Backward(da, db, new float[] { 0.5f, -1, 2 }, 3);
        Assert.Equal(new float[] { 1.5f, 0, 3 }, da);
        Assert.Equal(new float[] { 0.5f, -1, 2 }, db);
    }

    [Fact]
    public void AdamW_ThreeSteps_MatchTorchFormulaInDouble()
    {
        var rng = new Random(6);
        int n = 2500;
        var p = RandomFloats(rng, n);
        var m = new float[n];
        var v = new float[n];
        double[] pd = ToDouble(p), md = new double[n], vd = new double[n];
        const double lr = 1e-2, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
        for (int step = 1; step <= 3; step++)
        {
            var g = RandomFloats(rng, n);
            AdamW.Step(p, g, m, v, step, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd);
            for (int i = 0; i < n; i++)
            {
                pd[i] *= 1 - lr * wd;
                md[i] = b1 * md[i] + (1 - b1) * g[i];
                vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
                double denom = Math.Sqrt(vd[i]) / Math.Sqrt(1 - Math.Pow(b2, step)) + eps;
                pd[i] -= lr / (1 - Math.Pow(b1, step)) * md[i] / denom;
            }
        }
        AssertClose(p, pd, 1e-5, "param");
        AssertClose(m, md, 1e-5, "m");
        AssertClose(v, vd, 1e-5, "v");
        Assert.Throws<ArgumentOutOfRangeException>(() => AdamW.Step(p, p, m, v, 0, 1e-3f));
    }

    [Fact]
    public void GradClip_ScalesOnlyAboveMax()
    {
        var g = new float[] { 3, 4 };
        Assert.Equal(5f, GradClip.GlobalNorm(g));
        Assert.Equal(5f, GradClip.ClipByGlobalNorm(g, 10f));
        Assert.Equal(new float[] { 3, 4 }, g);
        Assert.Equal(5f, GradClip.ClipByGlobalNorm(g, 1f));
        Assert.Equal(1.0, GradClip.GlobalNorm(g), 1e-5);
    }

    [Fact]
    public void Rng_SameSeedSameStream_StateRestoreReplays()
    {
        var a = new Rng(123);
        var b = new Rng(123);
        Assert.Equal(a.NextUInt64(), b.NextUInt64());
        Assert.NotEqual(new Rng(124).NextUInt64(), new Rng(123).NextUInt64());
        a.NextNormal(); // leaves a cached spare normal in the state
        var saved = a.GetState();
        var x = new float[50];
        a.FillNormal(x, 0, 1);
        int i1 = a.NextInt(7);
        a.SetState(saved);
        var y = new float[50];
        a.FillNormal(y, 0, 1);
        Assert.Equal(x, y);
        Assert.Equal(i1, a.NextInt(7));
    }

    [Fact]
    public void Rng_Distributions_HaveExpectedMoments()
    {
        var r = new Rng(7);
        var x = new float[200_000];
        r.FillNormal(x, 1f, 2f);
        double mean = x.Average(v => (double)v), var = x.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, 0.97, 1.03);
        Assert.InRange(var, 3.9, 4.1);
        r.FillUniform(x, -1f, 3f);
        Assert.InRange(x.Min(), -1f, -0.99f);
        Assert.InRange(x.Max(), 2.99f, 3f);
        Assert.InRange(x.Average(v => (double)v), 0.98, 1.02);
        var counts = new int[5];
        for (int i = 0; i < 50_000; i++) counts[r.NextInt(5)]++;
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
    }
}

public sealed class TensorLayoutTests
{
    [Fact]
    public void TensorLayout_ViewsAreContiguousAndNamed()
    {
        var layout = new TensorLayout();
        layout.Add("wte", 5, 3);
        layout.Add("ln.weight", 3);
        Assert.Equal(18, layout.TotalSize);
        var buf = layout.Allocate();
        layout.View(buf, "ln.weight").Fill(2f);
        Assert.Equal(15, layout["ln.weight"].Offset);
        Assert.Equal(new float[] { 2, 2, 2 }, buf[15..]);
        Assert.Throws<ArgumentException>(() => layout.Add("wte", 1));
        var ex = Assert.Throws<KeyNotFoundException>(() => layout.View(buf, "missing"));
        Assert.Contains("missing", ex.Message);
        Assert.Throws<ArgumentException>(() => layout.Add("bad", 2, 0));
    }
}
