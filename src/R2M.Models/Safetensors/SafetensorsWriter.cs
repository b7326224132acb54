using System.Runtime.InteropServices;

namespace R2M.Models.Safetensors;

/// <summary>One tensor to write: f32 data stored as <see cref="Dtype"/> (F32, F16 or BF16).</summary>
public sealed record SafetensorsEntry(string Name, long[] Shape, ReadOnlyMemory<float> Data,
    SafetensorsDtype Dtype = SafetensorsDtype.F32);

/// <summary>
/// Writes safetensors files: header padded with spaces to a multiple of 8, tensors ordered by
/// descending element size so each is aligned to it (as huggingface/safetensors writes), written to a temp
/// file, flushed to disk and renamed over the target so a reader never sees a half-written file.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var infos = Plan(path, tensors, out var ordered);
        var header = SafetensorsHeader.Serialize(infos, metadata);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var e in ordered)
                    WriteData(fs, e);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw new SafetensorsException(path, null, $"cannot be written ({e.Message})", e);
        }
    }

    private static List<SafetensorsTensorInfo> Plan(string path, IReadOnlyList<SafetensorsEntry> tensors,
        out List<SafetensorsEntry> ordered)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in tensors)
        {
            if (e.Name == "__metadata__" || !names.Add(e.Name))
                throw new SafetensorsException(path, e.Name, "duplicate or reserved tensor name");
            if (e.Dtype is not (SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16))
                throw new SafetensorsException(path, e.Name, $"cannot write dtype {SafetensorsDtypes.Name(e.Dtype)}");
            var count = e.Shape.Aggregate(1L, (a, d) => a * d);
            if (count != e.Data.Length)
                throw new SafetensorsException(path, e.Name, $"shape [{string.Join(", ", e.Shape)}] needs {count} values, got {e.Data.Length}");
        }
        // Larger elements first keeps every tensor aligned to its element size once the header is 8-aligned.
        ordered = tensors.Select((e, i) => (e, i))
            .OrderByDescending(x => SafetensorsDtypes.Size(x.e.Dtype)).ThenBy(x => x.i).Select(x => x.e).ToList();
        var infos = new List<SafetensorsTensorInfo>(ordered.Count);
        long offset = 0;
        foreach (var e in ordered)
        {
            var bytes = (long)e.Data.Length * SafetensorsDtypes.Size(e.Dtype);
            infos.Add(new SafetensorsTensorInfo(e.Name, e.Dtype, e.Shape, offset, offset + bytes));
            offset += bytes;
        }
        return infos;
    }

    private static void WriteData(FileStream fs, SafetensorsEntry e)
    {
        const int Chunk = 1 << 18;
        var src = e.Data.Span;
        if (e.Dtype == SafetensorsDtype.F32)
        {
            fs.Write(MemoryMarshal.AsBytes(src));
            return;
        }
        var buf = new byte[Chunk * 2];
        for (var i = 0; i < src.Length; i += Chunk)
        {
            var n = Math.Min(Chunk, src.Length - i);
            var dst = buf.AsSpan(0, n * 2);
            if (e.Dtype == SafetensorsDtype.F16)
                HalfConversion.F32ToF16(src.Slice(i, n), dst);
            else
                HalfConversion.F32ToBf16(src.Slice(i, n), dst);
            fs.Write(dst);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // best effort: the temp file is hidden and uniquely named
        }
    }
}
