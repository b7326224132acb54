using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace R2M.Alignment.Internal;

/// <summary>
/// Minimal safetensors reader/writer for checkpoints (REFERENCE.md section 2): 8-byte little-endian
/// header length, JSON header (padded with spaces to a multiple of 8), then the data buffer with
/// tensors back to back. Only F32 and U64 are written here (parameters, moments, counters, RNG words).
/// Writes are atomic: temp file in the same folder, flush to disk (fsync), rename over the target.
/// </summary>
internal static class SafetensorsIo
{
    public static void WriteAtomic(string path, IReadOnlyDictionary<string, float[]> floats, IReadOnlyDictionary<string, ulong[]> words, IReadOnlyDictionary<string, string> metadata)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + ".tmp-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Write(fs, floats, words, metadata);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    private static void Write(Stream s, IReadOnlyDictionary<string, float[]> floats, IReadOnlyDictionary<string, ulong[]> words, IReadOnlyDictionary<string, string> metadata)
    {
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata.Count > 0) header["__metadata__"] = metadata;
        long offset = 0;
        // U64 first so every tensor stays aligned to its element size (8, then 4).
        foreach (var (name, w) in words.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            header[name] = new { dtype = "U64", shape = new[] { w.Length }, data_offsets = new[] { offset, offset + 8L * w.Length } };
            offset += 8L * w.Length;
        }
        foreach (var (name, f) in floats.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            header[name] = new { dtype = "F32", shape = new[] { f.Length }, data_offsets = new[] { offset, offset + 4L * f.Length } };
            offset += 4L * f.Length;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        s.Write(len);
        s.Write(json);
        for (int i = json.Length; i < padded; i++) s.WriteByte((byte)' ');
        foreach (var (_, w) in words.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
            s.Write(MemoryMarshal.AsBytes(w.AsSpan()));
        }
        foreach (var (_, f) in floats.OrderBy(kv => kv.Key, StringComparer.Ordinal)) s.Write(MemoryMarshal.AsBytes(f.AsSpan()));
    }

    public static (Dictionary<string, float[]> Floats, Dictionary<string, ulong[]> Words, Dictionary<string, string> Metadata) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException($"{path}: shorter than the 8-byte safetensors header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > 100_000_000 || 8 + (long)n > bytes.Length) throw new InvalidDataException($"{path}: header length {n} is invalid for a {bytes.Length}-byte file");
        int dataStart = 8 + (int)n;
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var floats = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var words = new Dictionary<string, ulong[]>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__")
            {
                foreach (var m in p.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString() ?? "";
                continue;
            }
            string dtype = p.Value.GetProperty("dtype").GetString() ?? "";
            var offs = p.Value.GetProperty("data_offsets");
            long begin = offs[0].GetInt64(), end = offs[1].GetInt64();
            long count = p.Value.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, d) => a * d.GetInt64());
            int size = dtype switch { "F32" => 4, "U64" => 8, _ => throw new InvalidDataException($"{path}: tensor '{p.Name}' has dtype {dtype}; checkpoints hold F32 and U64 only") };
            if (begin < 0 || end < begin || end - begin != count * size || dataStart + end > bytes.Length)
                throw new InvalidDataException($"{path}: tensor '{p.Name}' has data_offsets [{begin}, {end}) inconsistent with shape and file size");
            var span = bytes.AsSpan(dataStart + (int)begin, (int)(end - begin));
            if (size == 4) floats[p.Name] = MemoryMarshal.Cast<byte, float>(span).ToArray();
            else words[p.Name] = MemoryMarshal.Cast<byte, ulong>(span).ToArray();
        }
        return (floats, words, meta);
    }
}
