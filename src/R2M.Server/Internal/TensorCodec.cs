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

    /// <summary>Decodes a [rows, width] tensor and appends its rows to <paramref name="into"/>; returns the rows added.</summary>
    public static int DecodeRows(Tensor t, int width, string field, List<float> into)
    {
        var size = ElementSize(t.Dtype, field);
        if (t.Shape.Count != 2)
        {
            throw new InvalidInputException($"{field}.shape has {t.Shape.Count} dimensions [{string.Join(", ", t.Shape)}]; hidden states are [rows, D_p]");
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

        var count = rows * w;
        if (t.Data.Length != count * size)
        {
            throw new InvalidInputException($"{field}.data has {t.Data.Length} bytes; shape [{rows}, {w}] of {t.Dtype} needs {count * size}");
        }

        var values = new float[count];
        Decode(t.Dtype, t.Data.Span, values);
        var bad = IndexOfNonFinite(values);
        if (bad >= 0)
        {
            throw new InvalidInputException($"{field} contains {values[bad]} at element {bad} (row {bad / w}, column {bad % w}); NaN and Inf are rejected");
        }

        into.AddRange(values);
        return (int)rows;
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
