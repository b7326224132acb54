using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using R2M.Tensors.Kernels;

namespace R2M.Tensors.Tests;

/// <summary>
/// The few-rows (decode) kernel against its scalar twin over 1-16 rows, odd k, k tails, odd weight
/// counts (an unpaired last row), strides and every weight format; and the in-register bf16/f16
/// widening against the scalar conversions, incl. subnormals, infinities and NaN.
/// </summary>
public sealed unsafe class FewRowsKernelTests
{
    public static TheoryData<int, int, int> Shapes()
    {
        var d = new TheoryData<int, int, int>();
        foreach (var m in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15, 16 })
        {
            foreach (var (n, k) in new[] { (1, 1), (2, 15), (3, 16), (5, 17), (7, 33), (8, 64), (13, 100), (6, 768), (9, 771) })
            {
                d.Add(m, n, k);
            }
        }
        return d;
    }

    public static TheoryData<WeightPrecision> Formats() => new() { WeightPrecision.F32, WeightPrecision.BF16, WeightPrecision.F16 };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Run_AllFormats_MatchScalarTwin(int m, int n, int k)
    {
        foreach (var format in new[] { WeightPrecision.F32, WeightPrecision.BF16, WeightPrecision.F16 })
        {
            Compare(m, n, k, format);
        }
    }

    private static void Compare(int m, int n, int k, WeightPrecision format)
    {
        var rng = new Random(m * 1000 + n * 10 + k);
        int lda = k + 3, ldc = n + 2;
        var a = TestUtil.RandomFloats(rng, m * lda);
        var w = new WeightMatrix(n, k, format);
        w.CopyFrom(TestUtil.RandomFloats(rng, n * k));
        var wf = new float[n * k];
        w.CopyTo(wf);
        var c0 = TestUtil.RandomFloats(rng, m * ldc);
        var simd = (float[])c0.Clone();
        var scalar = (float[])c0.Clone();
        fixed (float* pa = a, pc = simd)
        {
            byte* pw = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(w.Bytes));
            switch (format)
            {
                case WeightPrecision.BF16: FewRowsKernel.Run<Bf16Load>(m, 0, n, k, pa, lda, pw, k, pc, ldc, 0.5f); break;
                case WeightPrecision.F16: FewRowsKernel.Run<F16Load>(m, 0, n, k, pa, lda, pw, k, pc, ldc, 0.5f); break;
                default: FewRowsKernel.Run<F32Load>(m, 0, n, k, pa, lda, pw, k, pc, ldc, 0.5f); break;
            }
        }
        FewRowsKernel.Scalar(m, n, k, a, lda, wf, k, scalar, ldc, 0.5f);
        double tol = 2e-6 * Math.Sqrt(k + 1) * 4;
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                int at = i * ldc + j;
                if (j >= n)
                {
                    Assert.Equal(c0[at], simd[at]);
                    continue;
                }
                Assert.True(Math.Abs(simd[at] - scalar[at]) <= tol * Math.Max(1, Math.Abs(scalar[at])),
                    $"{format} m={m} n={n} k={k} at ({i},{j}): {simd[at]} vs scalar {scalar[at]}");
            }
        }
    }

    [Fact]
    public void Run_SubRange_WritesOnlyThoseColumns()
    {
        var rng = new Random(3);
        int m = 5, n = 11, k = 40;
        var a = TestUtil.RandomFloats(rng, m * k);
        var w = TestUtil.RandomFloats(rng, n * k);
        var c = new float[m * n];
        var full = new float[m * n];
        fixed (float* pa = a, pw = w, pc = c)
        {
            FewRowsKernel.Run<F32Load>(m, 3, 8, k, pa, k, (byte*)pw, k, pc, n, 1f);
        }
        FewRowsKernel.Scalar(m, n, k, a, k, w, k, full, n, 1f);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (j is >= 3 and < 8)
                    Assert.Equal(full[i * n + j], c[i * n + j], 1e-4f);
                else
                    Assert.Equal(0f, c[i * n + j]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Load16_EveryBitPattern_MatchesScalarConversion(WeightPrecision format)
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }
        fixed (ushort* pb = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                var v = format == WeightPrecision.F16 ? F16Load.Load16((byte*)(pb + i)) : Bf16Load.Load16((byte*)(pb + i));
                for (int l = 0; l < 16; l++)
                {
                    float expected = format == WeightPrecision.F16 ? (float)BitConverter.UInt16BitsToHalf(bits[i + l]) : Precision.Bf16ToF32(bits[i + l]);
                    if (float.IsNaN(expected))
                        Assert.True(float.IsNaN(v[l]), $"{format} 0x{bits[i + l]:x4} should be NaN, got {v[l]}");
                    else
                        Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(v[l]),
                            $"{format} 0x{bits[i + l]:x4}: {v[l]} vs {expected}");
                }
            }
        }
    }
}
