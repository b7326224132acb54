using R2M.Tensors;

namespace R2M.Tensors.Tests;

public sealed class GemmTests
{
    private static float[] Random(Random rng, int count)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        return x;
    }

    /// <summary>Double-precision reference of the cblas row-major contract.</summary>
    private static double[] Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda,
        float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var r = new double[c.Length];
        for (int i = 0; i < c.Length; i++)
        {
            r[i] = c[i];
        }
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = ta ? a[p * lda + i] : a[i * lda + p];
                    double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                    acc += av * bv;
                }
                r[i * ldc + j] = alpha * acc + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
        }
        return r;
    }

    private static void RunCase(Random rng, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad)
    {
        int lda = Math.Max(1, ta ? m : k) + pad, ldb = Math.Max(1, tb ? k : n) + pad, ldc = n + pad;
        var a = Random(rng, Math.Max(0, (ta ? k : m) * lda));
        var b = Random(rng, Math.Max(0, (tb ? n : k) * ldb));
        var c0 = Random(rng, m * ldc);
        var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc);
        var cm = (float[])c0.Clone();
        Gemm.SgemmManaged(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
        float[]? co = null;
        if (Gemm.OpenBlasAvailable)
        {
            co = (float[])c0.Clone();
            Gemm.SgemmOpenBlas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, co, ldc);
        }
        double tol = 1e-5 * Math.Sqrt(k + 1) * 4;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                int idx = i * ldc + j;
                double want = j < n ? expected[idx] : c0[idx]; // padding columns must stay untouched
                double scale = Math.Max(1, Math.Abs(want));
                Assert.True(Math.Abs(cm[idx] - want) <= tol * scale,
                    $"managed ta={ta} tb={tb} m={m} n={n} k={k} pad={pad} at ({i},{j}): {cm[idx]} vs {want}");
                if (co != null)
                {
                    Assert.True(Math.Abs(co[idx] - cm[idx]) <= tol * scale,
                        $"openblas vs managed ta={ta} tb={tb} m={m} n={n} k={k} at ({i},{j}): {co[idx]} vs {cm[idx]}");
                }
            }
        }
    }

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 3, 17, 63 }, { 17, 3, 129 }, { 63, 129, 17 }, { 129, 63, 3 },
        { 1, 300, 70 }, { 2, 65, 33 }, { 5, 40, 300 }, { 300, 2, 40 }, { 1000, 7, 5 }, { 7, 1000, 9 },
        { 130, 140, 270 }, { 33, 4100, 20 }, { 16, 32, 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Sgemm_AllTransposeCombos_MatchReferenceAndOpenBlas(int m, int n, int k)
    {
        var rng = new Random(m * 7919 + n * 104729 + k);
        foreach (bool ta in new[] { false, true })
        {
            foreach (bool tb in new[] { false, true })
            {
                RunCase(rng, ta, tb, m, n, k, 1f, 0f, 0);
                RunCase(rng, ta, tb, m, n, k, -0.75f, 0.5f, 3);
                RunCase(rng, ta, tb, m, n, k, 1.25f, 1f, 1);
            }
        }
    }

    [Fact]
    public void Sgemm_RandomShapes_ManagedMatchesOpenBlas()
    {
        var rng = new Random(42);
        for (int t = 0; t < 40; t++)
        {
            RunCase(rng, rng.Next(2) == 0, rng.Next(2) == 0, rng.Next(1, 90), rng.Next(1, 90), rng.Next(1, 90),
                (float)(rng.NextDouble() * 2 - 1), rng.Next(3) switch { 0 => 0f, 1 => 1f, _ => 0.3f }, rng.Next(0, 4));
        }
    }

    [Fact]
    public void Sgemm_BetaZero_IgnoresNaNInC()
    {
        var a = new float[] { 1, 2 };
        var b = new float[] { 3, 4 };
        var c = new float[] { float.NaN };
        Gemm.SgemmManaged(false, false, 1, 1, 2, 1f, a, 2, b, 1, 0f, c, 1);
        Assert.Equal(11f, c[0]);
    }

    [Fact]
    public void Sgemm_SingleThread_SameAsMultiThread()
    {
        var rng = new Random(5);
        int m = 150, n = 170, k = 300;
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c1 = new float[m * n];
        var c2 = new float[m * n];
        int saved = Gemm.ThreadCount;
        try
        {
            Gemm.ThreadCount = 1;
            Gemm.SgemmManaged(false, false, m, n, k, 1f, a, k, b, n, 0f, c1, n);
            Gemm.ThreadCount = 4;
            Gemm.SgemmManaged(false, false, m, n, k, 1f, a, k, b, n, 0f, c2, n);
        }
        finally
        {
            Gemm.ThreadCount = saved;
        }
        Assert.Equal(c1, c2);
    }

    [Fact]
    public void Sgemm_ShortSpans_ThrowNamingArgument()
    {
        var a = new float[5];
        var b = new float[6];
        var c = new float[6];
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 3, 3, 1f, a, 3, b, 3, 0f, c, 3));
        Assert.Equal("a", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 2, 3, 2, 1f, new float[4], 2, b, 3, 0f, new float[5], 3));
        Assert.Equal("c", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 2, 3, 2, 1f, new float[4], 2, b, 1, 0f, c, 3));
        Assert.Equal("ldb", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Sgemm(false, false, -1, 3, 2, 1f, a, 2, b, 3, 0f, c, 3));
    }

    [Fact]
    public void OpenBlas_IsAvailableOnThisMachine()
    {
        // Debian libopenblas0-pthread is a project prerequisite (scripts/setup.sh installs it).
        Assert.True(Gemm.OpenBlasAvailable, "libopenblas.so.0 did not load; run scripts/setup.sh");
        Assert.Equal(GemmBackend.OpenBlas, Gemm.EffectiveBackend);
    }

    [Fact]
    public void SgemmManaged_ConcurrentCallers_EachGetCorrectResult()
    {
        // Packing buffers are per calling thread; concurrent callers must not share them.
        var results = Enumerable.Range(0, 6).AsParallel().WithDegreeOfParallelism(6).Select(t =>
        {
            var rng = new Random(100 + t);
            int m = 40 + t * 7, n = 90 + t, k = 300 + t * 13;
            var a = Random(rng, m * k);
            var b = Random(rng, n * k);
            var c = new float[m * n];
            Gemm.SgemmManaged(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
            var expected = Reference(false, true, m, n, k, 1f, a, k, b, k, 0f, new float[m * n], n);
            double worst = 0;
            for (int i = 0; i < c.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(c[i] - expected[i]));
            }
            return worst;
        }).ToList();
        Assert.All(results, w => Assert.True(w < 1e-3, $"max error {w}"));
    }

    [Fact]
    public void Backend_Managed_RoutesSgemmToManagedKernel()
    {
        var saved = Gemm.Backend;
        try
        {
            Gemm.Backend = GemmBackend.Managed;
            Assert.Equal(GemmBackend.Managed, Gemm.EffectiveBackend);
            var c = new float[1];
            Gemm.Sgemm(false, false, 1, 1, 3, 2f, new float[] { 1, 2, 3 }, 3, new float[] { 4, 5, 6 }, 1, 0f, c, 1);
            Assert.Equal(64f, c[0]);
            Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Backend = (GemmBackend)7);
            Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.ThreadCount = 0);
        }
        finally
        {
            Gemm.Backend = saved;
        }
    }

    [Fact]
    public void BackendFor_Auto_LargeAndFewRowsToManagedOnAvx512_OthersToOpenBlas()
    {
        var saved = Gemm.Backend;
        try
        {
            Gemm.Backend = GemmBackend.Auto;
            var large = Gemm.OpenBlasAvailable && Tensors.Kernels.GemmMicroKernel.IsAvx512 ? GemmBackend.Managed : Gemm.EffectiveBackend;
            Assert.Equal(large, Gemm.BackendFor(2048, 2304, 768));
            // Few rows x W^T (decode) go to the managed few-rows kernel; other skinny shapes stay on OpenBLAS.
            Assert.Equal(large, Gemm.BackendFor(8, 2304, 768));
            Assert.Equal(Gemm.EffectiveBackend, Gemm.BackendFor(false, false, 8, 2304, 768));
            Assert.Equal(Gemm.EffectiveBackend, Gemm.BackendFor(32, 2304, 768));
            Assert.Equal(Gemm.EffectiveBackend, Gemm.BackendFor(2048, 2304, 16));
            if (Gemm.OpenBlasAvailable)
            {
                Gemm.Backend = GemmBackend.OpenBlas;
                Assert.Equal(GemmBackend.OpenBlas, Gemm.BackendFor(2048, 2304, 768));
            }
            Gemm.Backend = GemmBackend.Managed;
            Assert.Equal(GemmBackend.Managed, Gemm.BackendFor(8, 2304, 768));
        }
        finally
        {
            Gemm.Backend = saved;
        }
    }
}
