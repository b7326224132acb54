using R2M.Alignment.Internal;

namespace R2M.Alignment;

/// <summary>
/// Named F32 tensors, U64 counters and string metadata, stored as one safetensors file
/// (REFERENCE.md section 2) written atomically: temp file in the same folder, fsync, rename.
/// </summary>
public sealed class CheckpointState
{
    public Dictionary<string, float[]> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, ulong[]> Counters { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Where it was read from (for error messages).</summary>
    public string Source { get; private init; } = "(memory)";

    public void Save(string path) => SafetensorsIo.WriteAtomic(path, Tensors, Counters, Metadata);

    public static CheckpointState Load(string path)
    {
        var (f, w, m) = SafetensorsIo.Read(path);
        var s = new CheckpointState { Source = path };
        foreach (var kv in f) s.Tensors[kv.Key] = kv.Value;
        foreach (var kv in w) s.Counters[kv.Key] = kv.Value;
        foreach (var kv in m) s.Metadata[kv.Key] = kv.Value;
        return s;
    }

    /// <summary>Tensor by name with the expected length, or a clear InvalidDataException.</summary>
    public float[] Tensor(string name, int length)
    {
        if (!Tensors.TryGetValue(name, out var t)) throw new InvalidDataException($"{Source}: tensor '{name}' missing");
        if (t.Length != length) throw new InvalidDataException($"{Source}: tensor '{name}' has {t.Length} values, expected {length}");
        return t;
    }

    /// <summary>Counter by name with the expected length, or a clear InvalidDataException.</summary>
    public ulong[] Counter(string name, int length)
    {
        if (!Counters.TryGetValue(name, out var c)) throw new InvalidDataException($"{Source}: counter '{name}' missing");
        if (c.Length != length) throw new InvalidDataException($"{Source}: counter '{name}' has {c.Length} words, expected {length}");
        return c;
    }

    /// <summary>Metadata value that must equal expected.</summary>
    public void Expect(string key, string expected)
    {
        if (!Metadata.TryGetValue(key, out var v)) throw new InvalidDataException($"{Source}: metadata '{key}' missing");
        if (v != expected) throw new InvalidDataException($"{Source}: {key} {v}, expected {expected}");
    }
}
