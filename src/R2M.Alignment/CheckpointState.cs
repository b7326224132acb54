using System.Globalization;
using R2M.Models.Safetensors;
using R2M.Tensors;

namespace R2M.Alignment;

/// <summary>
/// Named F32 tensors, U64 counters and string metadata, stored as one safetensors file
/// (docs/specs.md section 2) through R2M.Models' writer and reader. The writer is atomic (temp file
/// in the same folder, fsync, rename), so a crash mid-save leaves the previous checkpoint intact.
/// Counters (step counts, RNG words) go into the header's <c>__metadata__</c> as decimal text under
/// <see cref="CounterPrefix"/>: the format's metadata is string to string, so every bit survives,
/// and the tensor section stays floating point, which is all the shared writer emits.
/// Errors: <see cref="Load"/> throws <see cref="SafetensorsException"/> for a file that breaks the
/// format (truncated, bad header) and <see cref="InvalidDataException"/> for a malformed counter; the
/// accessors throw <see cref="InvalidDataException"/> naming the file and the entry that is missing
/// or has the wrong size (the server maps both to gRPC statuses).
/// </summary>
public sealed class CheckpointState
{
    /// <summary>Metadata keys starting with this hold a counter (comma-separated decimal u64 words).</summary>
    public const string CounterPrefix = "u64:";

    public Dictionary<string, float[]> Tensors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, ulong[]> Counters { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Where it was read from (for error messages).</summary>
    public string Source { get; private init; } = "(memory)";

    /// <summary>Writes the state atomically (temp file, fsync, rename).</summary>
    public void Save(string path)
    {
        var meta = new Dictionary<string, string>(Metadata, StringComparer.Ordinal);
        foreach (var (name, words) in Counters)
        {
            if (Metadata.ContainsKey(CounterPrefix + name)) throw new ArgumentException($"{path}: counter '{name}' collides with metadata key '{CounterPrefix + name}'");
            meta[CounterPrefix + name] = string.Join(',', words.Select(w => w.ToString(CultureInfo.InvariantCulture)));
        }
        var entries = Tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new SafetensorsEntry(kv.Key, [kv.Value.Length], kv.Value)).ToList();
        SafetensorsWriter.Write(path, entries, meta);
    }

    /// <summary>Reads a file written by <see cref="Save"/>; a corrupt or truncated file throws <see cref="SafetensorsException"/>.</summary>
    public static CheckpointState Load(string path)
    {
        var s = new CheckpointState { Source = path };
        using var file = SafetensorsFile.Open(path);
        foreach (var name in file.Tensors.Keys) s.Tensors[name] = file.ReadF32(name);
        foreach (var (key, value) in file.Metadata)
        {
            if (!key.StartsWith(CounterPrefix, StringComparison.Ordinal)) { s.Metadata[key] = value; continue; }
            var name = key[CounterPrefix.Length..];
            var words = value.Length == 0 ? [] : value.Split(',');
            s.Counters[name] = [.. words.Select(w => ulong.TryParse(w, NumberStyles.None, CultureInfo.InvariantCulture, out var u)
                ? u : throw new InvalidDataException($"{path}: counter '{name}': word '{w}' is not an unsigned 64-bit integer"))];
        }
        return s;
    }

    /// <summary>Collects every part's tensors and counters into one state and writes it atomically.</summary>
    internal static void SaveParts(string path, params Action<CheckpointState>[] exports)
    {
        var s = new CheckpointState();
        foreach (var export in exports) export(s);
        s.Save(path);
    }

    /// <summary>
    /// Reads path and lets every part validate what it needs before any part assigns anything, so a
    /// bad file leaves the whole object graph as it was.
    /// </summary>
    internal static void LoadParts(string path, params Func<CheckpointState, Action>[] imports)
    {
        var s = Load(path);
        var apply = imports.Select(import => import(s)).ToList();
        foreach (var a in apply) a();
    }

    /// <summary>Tensor by name with the expected length.</summary>
    public float[] Tensor(string name, int length)
    {
        if (!Tensors.TryGetValue(name, out var t)) throw new InvalidDataException($"{Source}: tensor '{name}' missing");
        if (t.Length != length) throw new InvalidDataException($"{Source}: tensor '{name}' has {t.Length} values, expected {length}");
        return t;
    }

    /// <summary>Counter by name with the expected length.</summary>
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

    /// <summary>Stores an RNG state (xoshiro words, then the cached Box-Muller normal) as a 6-word counter.</summary>
    public void WriteRng(string name, Rng.State state) =>
        Counters[name] = [state.S0, state.S1, state.S2, state.S3, state.HasSpare ? 1UL : 0UL, BitConverter.DoubleToUInt64Bits(state.Spare)];

    /// <summary>Reads an RNG state written by <see cref="WriteRng"/>; validates it without touching any generator.</summary>
    public Rng.State ReadRng(string name)
    {
        var w = Counter(name, 6);
        if ((w[0] | w[1] | w[2] | w[3]) == 0) throw new InvalidDataException($"{Source}: RNG state '{name}' is all zero");
        if (w[4] > 1) throw new InvalidDataException($"{Source}: RNG state '{name}' has spare flag {w[4]}, expected 0 or 1");
        return new Rng.State(w[0], w[1], w[2], w[3], w[4] == 1, BitConverter.UInt64BitsToDouble(w[5]));
    }
}
