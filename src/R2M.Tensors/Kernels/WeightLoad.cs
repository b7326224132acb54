using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace R2M.Tensors.Kernels;

/// <summary>
/// Loads weights of one storage format as f32 inside a kernel (the struct type argument lets the
/// JIT specialise each kernel per format, with no call or branch per element). .NET 10 exposes no
/// F16C / AVX512-FP16 conversion intrinsic (vcvtph2ps) and no AVX512-BF16 dot product (vdpbf16ps),
/// so conversion is integer arithmetic: bf16 is the upper half of an f32 (zero-extend, shift left
/// 16); f16 is re-biased with an integer shift and a multiply by 2^112, which is exact for every
/// finite half (normal and subnormal) - inf and NaN get their exponent forced to 255.
/// </summary>
internal unsafe interface IWeightLoad
{
    /// <summary>Bytes per element.</summary>
    static abstract int Size { get; }

    /// <summary>16 consecutive elements at p as f32.</summary>
    static abstract Vector512<float> Load16(byte* p);

    /// <summary>Element i at p as f32.</summary>
    static abstract float Load1(byte* p, long i);
}

internal readonly unsafe struct F32Load : IWeightLoad
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p, long i) => ((float*)p)[i];
}

internal readonly unsafe struct Bf16Load : IWeightLoad
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p)
    {
        return Vector512.ShiftLeft(Widen(p), 16).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p, long i) => Precision.Bf16ToF32(((ushort*)p)[i]);

    /// <summary>16 u16 at p zero-extended to u32 (vpmovzxwd with a memory operand where AVX-512 is present).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<uint> Widen(byte* p) => Avx512F.IsSupported
        ? Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)p))
        : Vector512.WidenLower(Vector512.Create(Vector256.Load((ushort*)p), default));
}

internal readonly unsafe struct F16Load : IWeightLoad
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p)
    {
        var h = Bf16Load.Widen(p);
        var magnitude = Vector512.ShiftLeft(h & Vector512.Create(0x7fffu), 13);
        // Exponent 31 (inf/NaN) must become 255 after the 2^112 scale; force it with an OR.
        var special = Vector512.Equals(h & Vector512.Create(0x7c00u), Vector512.Create(0x7c00u)) & Vector512.Create(0x7f800000u);
        var value = magnitude.AsSingle() * Vector512.Create(0x77800000u).AsSingle() /* 2^112 */;
        var sign = Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16);
        return (value.AsUInt32() | special | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p, long i) => (float)((Half*)p)[i];
}
