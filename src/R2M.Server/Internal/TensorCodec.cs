using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using R2M.Api.V1;
using R2M.Models.Safetensors;
using Tensor = R2M.Api.V1.Tensor;

namespace R2M.Server.Internal;

/// <summary>
/// r2m.v1.Tensor &lt;-&gt; float rows (tensor.proto: row-major, little-endian; BF16 = upper 16 bits of
/// an f32). Decoding checks dtype, shape [rows, width], data length and finiteness, naming the field.
/// </summary>
internal static class TensorCodec
{
    public static int ElementSize(DType dtype, string field) => dtype switch
    {
        DType.F32 => 4,
        DType.F16 or DType.Bf16 => 2,
        _ => throw new InvalidInputException($"{field}.dtype {dtype} is not a tensor element type (F32, F16 or BF16)"),
    };

    /// <summary>
    /// Checks dtype, shape [rows, width] and data length of a hidden-state tensor and returns rows.
    /// Shape entries are int64 on the wire, so no product is formed before it is known to fit: rows
    /// is compared with <paramref name="maxElements"/> / width first (width equals the small, positive
    /// D_p by then). Above <paramref name="maxElements"/>, the elements the caller can still take,
    /// RESOURCE_EXHAUSTED naming <paramref name="limit"/>; <paramref name="maxElements"/> never exceeds
    /// <see cref="int.MaxValue"/>, so rows x width fits one float array.
    /// </summary>
    public static int CheckedRows(Tensor t, int width, long maxElements, string limit, string field)
    {
        var size = ElementSize(t.Dtype, field);
        if (t.Shape.Count != 2)
        {
            var shown = t.Shape.Count <= 8 ? $" [{string.Join(", ", t.Shape)}]" : "";
            throw new InvalidInputException($"{field}.shape has {t.Shape.Count} dimensions{shown}; hidden states are [rows, D_p]");
        }

        long rows = t.Shape[0], w = t.Shape[1];
        if (rows < 1 || w < 1)
        {
            throw new InvalidInputException($"{field}.shape [{rows}, {w}] has an entry < 1");
        }

        if (w != width)
        {
            throw new InvalidInputException($"{field} has width {w}, but the policy hidden size D_p is {width} (wrong hidden-state width)");
        }

        if (rows > Math.Min(maxElements, int.MaxValue) / w)
        {
            throw new LimitExceededException($"{field}.shape [{rows}, {w}] is {(Int128)rows * w * 4} bytes decoded (4 per element), above {limit}");
        }

        var count = rows * w;
        if (t.Data.Length != count * size)
        {
            throw new InvalidInputException($"{field}.data has {t.Data.Length} bytes; shape [{rows}, {w}] of {t.Dtype} needs {count * size}");
        }

        return (int)rows;
    }

    /// <summary>Decodes a tensor checked by <see cref="CheckedRows"/> into <paramref name="dst"/> (rows x width floats); NaN and Inf are rejected naming the element.</summary>
    public static void DecodeInto(Tensor t, int width, Span<float> dst, string field)
    {
        Decode(t.Dtype, t.Data.Span, dst);
        var bad = IndexOfNonFinite(dst);
        if (bad >= 0)
        {
            throw new InvalidInputException($"{field} contains {dst[bad]} at element {bad} (row {bad / width}, column {bad % width}); NaN and Inf are rejected");
        }
    }

    /// <summary>One [rows, width] tensor of at most <paramref name="maxBytes"/> decoded bytes as a new (rows, width) array.</summary>
    public static float[] DecodeRows(Tensor t, int width, long maxBytes, string limit, string field, out int rows)
    {
        rows = CheckedRows(t, width, maxBytes / 4, limit, field);
        var values = new float[rows * width];
        DecodeInto(t, width, values, field);
        return values;
    }

    public static void Decode(DType dtype, ReadOnlySpan<byte> data, Span<float> dst)
    {
        switch (dtype)
        {
            case DType.F32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(data).CopyTo(dst);
                }
                else
                {
                    for (var i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(data[(4 * i)..]);
                }

                break;
            case DType.F16:
                HalfConversion.F16ToF32(data, dst);
                break;
            default:
                HalfConversion.Bf16ToF32(data, dst);
                break;
        }
    }

    /// <summary>Encodes rows [first, first+count) of (rows, width) values as a Tensor of <paramref name="dtype"/>.</summary>
    public static Tensor Encode(ReadOnlySpan<float> values, int width, DType dtype)
    {
        var rows = values.Length / width;
        var size = dtype == DType.F32 ? 4 : 2;
        var bytes = new byte[values.Length * size];
        switch (dtype)
        {
            case DType.F32 when BitConverter.IsLittleEndian:
                // tensor.proto data is little-endian, so on such hosts the floats' bytes are the payload.
                MemoryMarshal.AsBytes(values).CopyTo(bytes);
                break;
            case DType.F32:
                for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
                break;
            case DType.F16:
                HalfConversion.F32ToF16(values, bytes);
                break;
            default:
                HalfConversion.F32ToBf16(values, bytes);
                break;
        }

        return new Tensor { Dtype = dtype, Shape = { rows, width }, Data = ByteString.CopyFrom(bytes) };
    }

    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i])) return i;
        }

        return -1;
    }
}
