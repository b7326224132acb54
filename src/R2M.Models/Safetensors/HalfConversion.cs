using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace R2M.Models.Safetensors;

/// <summary>
/// F16/BF16 &lt;-&gt; F32 over little-endian bytes (safetensors, tensor.proto). BF16 is the upper 16
/// bits of an f32 (IEEE 754 binary16; bfloat16). Spans must hold matching element counts.
/// </summary>
public static class HalfConversion
{
    public static void F16ToF32(ReadOnlySpan<byte> src, Span<float> dst) =>
        TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src), dst);

    public static void Bf16ToF32(ReadOnlySpan<byte> src, Span<float> dst)
    {
        var s = MemoryMarshal.Cast<byte, ushort>(src);
        var d = MemoryMarshal.Cast<float, uint>(dst);
        for (var i = 0; i < s.Length; i++)
            d[i] = (uint)s[i] << 16;
    }

    public static void F32ToF16(ReadOnlySpan<float> src, Span<byte> dst) =>
        TensorPrimitives.ConvertToHalf(src, MemoryMarshal.Cast<byte, Half>(dst));

    /// <summary>Round to nearest even, as torch's float->bfloat16 cast does; NaN stays NaN.</summary>
    public static void F32ToBf16(ReadOnlySpan<float> src, Span<byte> dst)
    {
        var s = MemoryMarshal.Cast<float, uint>(src);
        var d = MemoryMarshal.Cast<byte, ushort>(dst);
        for (var i = 0; i < s.Length; i++)
        {
            var x = s[i];
            if ((x & 0x7fffffff) > 0x7f800000)
            {
                d[i] = (ushort)((x >> 16) | 0x40);
                continue;
            }
            var rounding = 0x7fffu + ((x >> 16) & 1);
            d[i] = (ushort)((x + rounding) >> 16);
        }
    }
}
