using R2M.Tensors;

namespace R2M.Models.Safetensors;

/// <summary>
/// F16/BF16 &lt;-&gt; F32 over little-endian bytes (safetensors, tensor.proto). BF16 is the upper 16
/// bits of an f32 (IEEE 754 binary16; bfloat16). Spans must hold matching element counts. The
/// conversions are R2M.Tensors' <see cref="Precision"/> (one implementation for files and kernels).
/// </summary>
public static class HalfConversion
{
    public static void F16ToF32(ReadOnlySpan<byte> src, Span<float> dst) => Precision.F16ToF32(src, dst);

    public static void Bf16ToF32(ReadOnlySpan<byte> src, Span<float> dst) => Precision.Bf16ToF32(src, dst);

    public static void F32ToF16(ReadOnlySpan<float> src, Span<byte> dst) => Precision.F32ToF16(src, dst);

    /// <summary>Round to nearest even, as torch's float->bfloat16 cast does; NaN stays NaN.</summary>
    public static void F32ToBf16(ReadOnlySpan<float> src, Span<byte> dst) => Precision.F32ToBf16(src, dst);
}
