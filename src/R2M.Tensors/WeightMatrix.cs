using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// An (Out, In) weight matrix stored row-major at a <see cref="WeightPrecision"/>, like nn.Linear's
/// weight: the inference copy of a layer. 16-bit formats halve the bytes a decode step streams;
/// kernels convert to f32 in registers and compute in f32 (<see cref="Linear.Forward(Span{float},
/// ReadOnlySpan{float}, WeightMatrix, ReadOnlySpan{float}, int)"/>). The storage is pinned, so
/// kernels may hold its address.
/// </summary>
public sealed unsafe class WeightMatrix
{
    /// <summary>Storage alignment: every 64-byte vector load of a row whose byte length is a multiple of 64 stays in one cache line.</summary>
    private const int Align = 64;

    private readonly byte[] _buffer;
    private readonly int _start;

    /// <summary>A zero (Out = rows, In = cols) matrix.</summary>
    public WeightMatrix(int rows, int cols, WeightPrecision precision)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(cols, nameof(cols));
        if (!Enum.IsDefined(precision))
        {
            throw new ArgumentOutOfRangeException(nameof(precision), precision, "unknown WeightPrecision");
        }
        Rows = rows;
        Cols = cols;
        Precision = precision;
        int length = checked(rows * cols * R2M.Tensors.Precision.Size(precision));
        _buffer = GC.AllocateArray<byte>(length + Align, pinned: true);
        var address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffer));
        _start = (int)((Align - (address & (Align - 1))) & (Align - 1));
        Length = length;
    }

    /// <summary>Out features.</summary>
    public int Rows { get; }

    /// <summary>In features.</summary>
    public int Cols { get; }

    public WeightPrecision Precision { get; }

    /// <summary>The stored little-endian elements, (Rows, Cols) row-major.</summary>
    public Span<byte> Bytes => _buffer.AsSpan(_start, Length);

    private int Length { get; }

    internal byte* Pointer => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffer)) + _start;

    /// <summary>Copies f32 weights (Rows, Cols) in, rounding to <see cref="Precision"/>.</summary>
    public void CopyFrom(ReadOnlySpan<float> source)
    {
        Check.Len(source.Length, (long)Rows * Cols, nameof(source), "(Out,In)");
        var src = source[..(Rows * Cols)];
        switch (Precision)
        {
            case WeightPrecision.F32:
                src.CopyTo(MemoryMarshal.Cast<byte, float>(Bytes));
                break;
            case WeightPrecision.BF16:
                R2M.Tensors.Precision.F32ToBf16(src, Bytes);
                break;
            default:
                R2M.Tensors.Precision.F32ToF16(src, Bytes);
                break;
        }
    }

    /// <summary>Copies raw little-endian elements already in <see cref="Precision"/> (e.g. from a bf16 safetensors file): no conversion.</summary>
    public void CopyFromBytes(ReadOnlySpan<byte> source)
    {
        if (source.Length != Length)
        {
            throw new ArgumentException($"source has {source.Length} bytes, a {Rows}x{Cols} {Precision} matrix needs {Length}", nameof(source));
        }
        source.CopyTo(Bytes);
    }

    /// <summary>The weights as f32 (Rows, Cols).</summary>
    public void CopyTo(Span<float> destination)
    {
        Check.Len(destination.Length, (long)Rows * Cols, nameof(destination), "(Out,In)");
        var dst = destination[..(Rows * Cols)];
        switch (Precision)
        {
            case WeightPrecision.F32:
                MemoryMarshal.Cast<byte, float>(Bytes).CopyTo(dst);
                break;
            case WeightPrecision.BF16:
                R2M.Tensors.Precision.Bf16ToF32(Bytes, dst);
                break;
            default:
                R2M.Tensors.Precision.F16ToF32(Bytes, dst);
                break;
        }
    }
}
