using System.Text;
using R2M.Tensors;

namespace R2M.Models.Gguf;

/// <summary>GGUF metadata value types (GGUF v3 spec, gguf_type).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8,
    Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// Writes a GGUF v3 file (the llama.cpp / ggml model format; spec: ggml's docs/gguf.md): little-endian
/// header "GGUF", version 3, tensor count and metadata count (u64); metadata key/value pairs (string
/// keys, typed values, arrays); tensor infos (name, dims with the fastest-varying first - the reverse of
/// a row-major shape - ggml type, data offset); then the data section, every tensor aligned to
/// <see cref="Alignment"/> bytes. Tensors are f32, f16 or bf16 (ggml types 0, 1, 30). The file is
/// written to a temporary name and moved into place, so it appears whole or not at all.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>general.alignment; the spec's default, so it need not be written.</summary>
    public const int Alignment = 32;

    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<(string Name, long[] Shape, WeightPrecision Type, Action<Span<byte>> Fill)> _tensors = [];

    public void Add(string key, string value) => _metadata.Add((key, GgufValueType.String, value));

    public void Add(string key, uint value) => _metadata.Add((key, GgufValueType.UInt32, value));

    public void Add(string key, int value) => _metadata.Add((key, GgufValueType.Int32, value));

    public void Add(string key, float value) => _metadata.Add((key, GgufValueType.Float32, value));

    public void Add(string key, bool value) => _metadata.Add((key, GgufValueType.Bool, value));

    public void Add(string key, IReadOnlyList<string> values) => _metadata.Add((key, GgufValueType.Array, values));

    public void Add(string key, IReadOnlyList<float> values) => _metadata.Add((key, GgufValueType.Array, values));

    public void Add(string key, IReadOnlyList<int> values) => _metadata.Add((key, GgufValueType.Array, values));

    /// <summary>
    /// A tensor of row-major <paramref name="shape"/> (PyTorch order) stored as <paramref name="type"/>;
    /// <paramref name="fill"/> writes its little-endian bytes when the file is written.
    /// </summary>
    public void AddTensor(string name, long[] shape, WeightPrecision type, Action<Span<byte>> fill) =>
        _tensors.Add((name, shape, type, fill));

    /// <summary>
    /// A tensor from f32 values, converted to <paramref name="type"/> (round to nearest even) when the
    /// file is written; <paramref name="values"/> is called then, so large models are not held twice.
    /// </summary>
    public void AddTensor(string name, long[] shape, WeightPrecision type, Func<float[]> values) =>
        AddTensor(name, shape, type, dst =>
        {
            var v = values();
            switch (type)
            {
                case WeightPrecision.F32:
                    System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).CopyTo(dst);
                    break;
                case WeightPrecision.F16:
                    Precision.F32ToF16(v, dst);
                    break;
                default:
                    Precision.F32ToBf16(v, dst);
                    break;
            }
        });

    /// <summary>ggml_type of a stored precision.</summary>
    public static uint GgmlType(WeightPrecision p) => p switch
    {
        WeightPrecision.F32 => 0,
        WeightPrecision.F16 => 1,
        _ => 30,
    };

    public void Write(string path)
    {
        var tmp = path + ".tmp";
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(f, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(0x46554747u); // "GGUF" little-endian
                w.Write(3u);
                w.Write((ulong)_tensors.Count);
                w.Write((ulong)_metadata.Count);
                foreach (var (key, type, value) in _metadata)
                {
                    WriteString(w, key);
                    WriteValue(w, type, value);
                }
                var offsets = new long[_tensors.Count];
                long offset = 0;
                for (var i = 0; i < _tensors.Count; i++)
                {
                    var (name, shape, type, _) = _tensors[i];
                    WriteString(w, name);
                    w.Write((uint)shape.Length);
                    for (var d = shape.Length - 1; d >= 0; d--)
                        w.Write((ulong)shape[d]);
                    w.Write(GgmlType(type));
                    w.Write((ulong)offset);
                    offsets[i] = offset;
                    offset = Align(offset + Bytes(shape, type));
                }
                w.Flush();
                Pad(f);
                var dataStart = f.Position;
                for (var i = 0; i < _tensors.Count; i++)
                {
                    var (_, shape, type, fill) = _tensors[i];
                    f.Position = dataStart + offsets[i];
                    var buf = new byte[Bytes(shape, type)];
                    fill(buf);
                    f.Write(buf);
                    Pad(f);
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
                File.Delete(tmp);
        }
    }

    private static long Bytes(long[] shape, WeightPrecision type) => shape.Aggregate(1L, (a, d) => a * d) * Precision.Size(type);

    private static long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream f)
    {
        var pad = (int)(Align(f.Position) - f.Position);
        if (pad > 0)
            f.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        w.Write((uint)type);
        switch (value)
        {
            case string s: WriteString(w, s); break;
            case uint u: w.Write(u); break;
            case int i: w.Write(i); break;
            case float x: w.Write(x); break;
            case bool b: w.Write((byte)(b ? 1 : 0)); break;
            case IReadOnlyList<string> ss:
                w.Write((uint)GgufValueType.String);
                w.Write((ulong)ss.Count);
                foreach (var s in ss)
                    WriteString(w, s);
                break;
            case IReadOnlyList<float> fs:
                w.Write((uint)GgufValueType.Float32);
                w.Write((ulong)fs.Count);
                foreach (var x in fs)
                    w.Write(x);
                break;
            case IReadOnlyList<int> xs:
                w.Write((uint)GgufValueType.Int32);
                w.Write((ulong)xs.Count);
                foreach (var x in xs)
                    w.Write(x);
                break;
            default:
                throw new ArgumentException($"unsupported GGUF metadata value {value.GetType().Name}", nameof(value));
        }
    }
}
