using R2M.Tensors.Kernels;

namespace R2M.Tensors.Tests;

/// <summary>Hand-written SIMD micro-kernels against their scalar twin over k = 0..70 and one large k.</summary>
public sealed unsafe class MicroKernelTests
{
    public static TheoryData<int> Lengths()
    {
        var d = new TheoryData<int>();
        for (int k = 0; k <= 70; k++) d.Add(k);
        d.Add(3001);
        return d;
    }

    private delegate void Kernel(int kc, float* a, float* b, float* c, int ldc, float alpha);

    private static void Compare(int kc, int mr, int nr, Kernel kernel, string name)
    {
        var rng = new Random(kc + mr * 100);
        var a = TestUtil.RandomFloats(rng, kc * mr);
        var b = TestUtil.RandomFloats(rng, kc * nr);
        int ldc = nr + 5;
        var c0 = TestUtil.RandomFloats(rng, mr * ldc);
        var cSimd = (float[])c0.Clone();
        var cScalar = (float[])c0.Clone();
        fixed (float* pa = a, pb = b, pc = cSimd)
        {
            kernel(kc, pa, pb, pc, ldc, 0.75f);
        }
        GemmMicroKernel.Scalar(mr, nr, kc, a, b, cScalar, ldc, 0.75f);
        double tol = 1e-6 * Math.Sqrt(kc + 1) * 8;
        for (int i = 0; i < cSimd.Length; i++)
        {
            Assert.True(Math.Abs(cSimd[i] - cScalar[i]) <= tol * Math.Max(1, Math.Abs(cScalar[i])),
                $"{name} kc={kc} at {i}: {cSimd[i]} vs scalar {cScalar[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Kernel8x32_MatchesScalarTwin(int kc)
    {
        // Vector512 APIs stay correct (software fallback) where AVX-512 is absent, so this always runs.
        Compare(kc, 8, 32, GemmMicroKernel.Kernel8x32, "avx512-8x32");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Kernel6x16_MatchesScalarTwin(int kc)
    {
        Compare(kc, 6, 16, GemmMicroKernel.Kernel6x16, "avx2-6x16");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void SelectedKernel_MatchesScalarTwin(int kc)
    {
        Compare(kc, GemmMicroKernel.MR, GemmMicroKernel.NR, GemmMicroKernel.Run, GemmMicroKernel.Name);
    }
}
