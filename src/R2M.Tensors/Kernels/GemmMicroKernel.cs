using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace R2M.Tensors.Kernels;

/// <summary>
/// Register-tiled SGEMM micro-kernels (GotoBLAS/BLIS structure: Goto and van de Geijn, "Anatomy of
/// High-Performance Matrix Multiplication", ACM TOMS 2008, section 4). Each computes one MR x NR tile
/// C += alpha * Apanel @ Bpanel from packed panels: Apanel is (kc, MR) with the MR row values of one
/// k step adjacent; Bpanel is (kc, NR) with the NR column values of one k step adjacent.
/// Accumulators live in registers: AVX-512 8x32 = 16 zmm accumulators (of 32), AVX2 6x16 = 12 ymm
/// (of 16), leaving room for the B vectors and the broadcast A value.
/// </summary>
internal static class GemmMicroKernel
{
    /// <summary>Tile rows of the kernel selected for this machine.</summary>
    public static readonly int MR;

    /// <summary>Tile columns of the kernel selected for this machine.</summary>
    public static readonly int NR;

    /// <summary>Name of the selected kernel, for benchmarks and logs.</summary>
    public static readonly string Name;

    /// <summary>True when the AVX-512 8x32 kernel is the selected one.</summary>
    public static bool IsAvx512 => MR == 8 && NR == 32;

    static GemmMicroKernel()
    {
        if (Vector512.IsHardwareAccelerated)
        {
            (MR, NR, Name) = (8, 32, "avx512-8x32");
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            (MR, NR, Name) = (6, 16, "avx2-6x16");
        }
        else
        {
            (MR, NR, Name) = (4, 8, "scalar-4x8");
        }
    }

    /// <summary>
    /// Full tile with the machine's kernel: c (MR rows, row stride ldc) += alpha * a(kc,MR) @ b(kc,NR).
    /// </summary>
    public static unsafe void Run(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Kernel8x32(kc, a, b, c, ldc, alpha);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Kernel6x16(kc, a, b, c, ldc, alpha);
        }
        else
        {
            Scalar(MR, NR, kc, new ReadOnlySpan<float>(a, kc * MR), new ReadOnlySpan<float>(b, kc * NR),
                new Span<float>(c, (MR - 1) * ldc + NR), ldc, alpha);
        }
    }

    /// <summary>
    /// Scalar twin of the SIMD kernels: c(mr rows, stride ldc) += alpha * a(kc,mr) @ b(kc,nr). Summation
    /// order over k is the same as the SIMD kernels (one FMA per k step), so results match closely.
    /// </summary>
    public static void Scalar(int mr, int nr, int kc, ReadOnlySpan<float> a, ReadOnlySpan<float> b,
        Span<float> c, int ldc, float alpha)
    {
        for (int i = 0; i < mr; i++)
        {
            for (int j = 0; j < nr; j++)
            {
                float acc = 0f;
                for (int p = 0; p < kc; p++)
                {
                    acc = MathF.FusedMultiplyAdd(a[p * mr + i], b[p * nr + j], acc);
                }
                c[i * ldc + j] = MathF.FusedMultiplyAdd(alpha, acc, c[i * ldc + j]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8;
            b += 32;
        }
        var va = Vector512.Create(alpha);
        Store512(c, c00, c01, va);
        Store512(c + ldc, c10, c11, va);
        Store512(c + 2 * ldc, c20, c21, va);
        Store512(c + 3 * ldc, c30, c31, va);
        Store512(c + 4 * ldc, c40, c41, va);
        Store512(c + 5 * ldc, c50, c51, va);
        Store512(c + 6 * ldc, c60, c61, va);
        Store512(c + 7 * ldc, c70, c71, va);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store512(float* row, Vector512<float> lo, Vector512<float> hi, Vector512<float> alpha)
    {
        Vector512.FusedMultiplyAdd(alpha, lo, Vector512.Load(row)).Store(row);
        Vector512.FusedMultiplyAdd(alpha, hi, Vector512.Load(row + 16)).Store(row + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }
        var va = Vector256.Create(alpha);
        Store256(c, c00, c01, va);
        Store256(c + ldc, c10, c11, va);
        Store256(c + 2 * ldc, c20, c21, va);
        Store256(c + 3 * ldc, c30, c31, va);
        Store256(c + 4 * ldc, c40, c41, va);
        Store256(c + 5 * ldc, c50, c51, va);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store256(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha)
    {
        Vector256.FusedMultiplyAdd(alpha, lo, Vector256.Load(row)).Store(row);
        Vector256.FusedMultiplyAdd(alpha, hi, Vector256.Load(row + 8)).Store(row + 8);
    }
}
