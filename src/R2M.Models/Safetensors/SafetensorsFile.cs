using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace R2M.Models.Safetensors;

/// <summary>
/// A memory-mapped, fully validated safetensors file (huggingface/safetensors format). Tensors are read
/// on demand and converted to f32 from F32, F16 or BF16. Dispose to unmap.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private bool _disposed;

    private SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr,
        long dataStart, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _dataStart = dataStart;
        _tensors = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    /// <summary>The path this file was opened from (used in every error message).</summary>
    public string FilePath { get; }

    /// <summary>The optional <c>__metadata__</c> map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor in the file, keyed by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;

    /// <summary>Opens, maps and validates <paramref name="path"/>; throws <see cref="SafetensorsException"/> on any format error.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new SafetensorsException(path, null, "file not found");
        long fileLength;
        try
        {
            fileLength = new FileInfo(path).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException(path, null, $"cannot be read ({e.Message})", e);
        }
        if (fileLength < 8)
            throw new SafetensorsException(path, null, $"file is {fileLength} bytes, too short for the 8-byte header length (truncated?)");
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            p += view.PointerOffset;
            var file = Create(path, map, view, p, fileLength);
            return file;
        }
        catch (SafetensorsException)
        {
            view?.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            throw;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            view?.Dispose();
            map?.Dispose();
            throw new SafetensorsException(path, null, $"cannot be mapped ({e.Message})", e);
        }
    }

    private static SafetensorsFile Create(string path, MemoryMappedFile map, MemoryMappedViewAccessor view,
        byte* p, long fileLength)
    {
        // Bytes 0-7: header length N as u64 little-endian, then N bytes of JSON, then the data.
        var n = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(p, 8));
        if (n > SafetensorsHeader.MaxHeaderLength)
            throw new SafetensorsException(path, null, $"header length {n} exceeds the 100,000,000-byte limit");
        if ((long)n > fileLength - 8)
            throw new SafetensorsException(path, null, $"header length {n} runs past the end of the {fileLength}-byte file (truncated?)");
        var json = new ReadOnlySpan<byte>(p + 8, (int)n);
        var dataStart = 8 + (long)n;
        var (tensors, metadata) = SafetensorsHeader.Parse(path, json, fileLength - dataStart);
        return new SafetensorsFile(path, map, view, p, dataStart, tensors, metadata);
    }

    /// <summary>Header entry of <paramref name="name"/>; throws naming the file and tensor when absent.</summary>
    public SafetensorsTensorInfo GetInfo(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new SafetensorsException(FilePath, name, "tensor not found in file");

    /// <summary>Reads <paramref name="name"/> into <paramref name="destination"/> (its element count), converting to f32.</summary>
    public void ReadF32(string name, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var t = GetInfo(name);
        if (destination.Length != t.ElementCount)
            throw new SafetensorsException(FilePath, name,
                $"holds {t.ElementCount} elements {t.ShapeText} but {destination.Length} were expected");
        var bytes = Bytes(t);
        switch (t.Dtype)
        {
            case SafetensorsDtype.F32:
                bytes.CopyTo(MemoryMarshal.AsBytes(destination));
                break;
            case SafetensorsDtype.F16:
                HalfConversion.F16ToF32(bytes, destination);
                break;
            case SafetensorsDtype.BF16:
                HalfConversion.Bf16ToF32(bytes, destination);
                break;
            default:
                throw new SafetensorsException(FilePath, name,
                    $"dtype {SafetensorsDtypes.Name(t.Dtype)} cannot be loaded as floating-point weights (F32, F16, BF16 only)");
        }
    }

    /// <summary>Reads <paramref name="name"/> into a new f32 array.</summary>
    public float[] ReadF32(string name)
    {
        var t = GetInfo(name);
        var result = new float[checked((int)t.ElementCount)];
        ReadF32(name, result);
        return result;
    }

    /// <summary>The raw little-endian bytes of a tensor (valid until dispose).</summary>
    public ReadOnlySpan<byte> Bytes(SafetensorsTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new ReadOnlySpan<byte>(_base + _dataStart + t.Begin, checked((int)(t.End - t.Begin)));
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _view?.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _map?.Dispose();
    }
}
