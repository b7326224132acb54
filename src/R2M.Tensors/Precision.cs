using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace R2M.Tensors;

/// <summary>Element type of stored weights (<see cref="WeightMatrix"/>). Compute is always f32.</summary>
public enum WeightPrecision
{
    /// <summary>IEEE binary32.</summary>
    F32,

    /// <summary>IEEE binary16 (5-bit exponent, 10-bit mantissa).</summary>
    F16,

    /// <summary>bfloat16: the upper 16 bits of a binary32 (8-bit exponent, 7-bit mantissa).</summary>
    BF16,
}

/// <summary>
/// Conversions between f32 and the 16-bit weight formats, little-endian as safetensors and GGUF
/// store them. f32 -> bf16 rounds to nearest even, as torch's float->bfloat16 cast does (NaN stays a
/// quiet NaN); f32 -> f16 is IEEE round to nearest even (System.Half). The kernels convert the other
/// way in registers (Kernels/WeightLoad.cs); these are the scalar/span forms.
/// </summary>
public static class Precision
{
    /// <summary>Bytes per element.</summary>
    public static int Size(WeightPrecision p) => p == WeightPrecision.F32 ? 4 : 2;

    /// <summary>bf16 bits -> f32 (exact).</summary>
    public static float Bf16ToF32(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>f32 -> bf16 bits, round to nearest even; NaN stays NaN.</summary>
    public static ushort F32ToBf16(float value)
    {
        var x = BitConverter.SingleToUInt32Bits(value);
        if ((x & 0x7fffffff) > 0x7f800000)
        {
            return (ushort)((x >> 16) | 0x40);
        }
        return (ushort)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
    }

    /// <summary>bf16 little-endian bytes (2 per element) -> f32.</summary>
    public static void Bf16ToF32(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var s = MemoryMarshal.Cast<byte, ushort>(src);
        Internal.Check.Len(dst.Length, s.Length, nameof(dst), "(n)");
        var d = MemoryMarshal.Cast<float, uint>(dst);
        for (int i = 0; i < s.Length; i++)
        {
            d[i] = (uint)s[i] << 16;
        }
    }

    /// <summary>f32 -> bf16 little-endian bytes (2 per element), round to nearest even.</summary>
    public static void F32ToBf16(ReadOnlySpan<float> src, Span<byte> dst)
    {
        var d = MemoryMarshal.Cast<byte, ushort>(dst);
        Internal.Check.Len(d.Length, src.Length, nameof(dst), "(2n bytes)");
        for (int i = 0; i < src.Length; i++)
        {
            d[i] = F32ToBf16(src[i]);
        }
    }

    /// <summary>f16 little-endian bytes -> f32 (exact).</summary>
    public static void F16ToF32(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);

    /// <summary>f32 -> f16 little-endian bytes, IEEE round to nearest even (overflow -> inf).</summary>
    public static void F32ToF16(ReadOnlySpan<float> src, Span<byte> dst) =>
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst));

    /// <summary>Rounds every value to the nearest value representable in <paramref name="precision"/> (in place).</summary>
    public static void Round(Span<float> values, WeightPrecision precision)
    {
        switch (precision)
        {
            case WeightPrecision.BF16:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = Bf16ToF32(F32ToBf16(values[i]));
                }
                break;
            case WeightPrecision.F16:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)(Half)values[i];
                }
                break;
        }
    }
}
