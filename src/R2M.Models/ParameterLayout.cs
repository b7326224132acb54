namespace R2M.Models;

/// <summary>One named view into a model's flat parameter buffer.</summary>
public sealed record ParameterInfo(string Name, int[] Shape, long Offset)
{
    public long Size => Shape.Aggregate(1L, (a, d) => checked(a * d));

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// The layout table of a model: HuggingFace tensor name -> offset and shape in the one contiguous
/// buffer that holds all parameters (and, at the same offsets, gradients and AdamW moments).
/// </summary>
public sealed class ParameterLayout
{
    private readonly List<ParameterInfo> _entries = [];
    private readonly Dictionary<string, ParameterInfo> _byName = new(StringComparer.Ordinal);

    /// <summary>Total number of floats.</summary>
    public long TotalSize { get; private set; }

    /// <summary>Entries in buffer order.</summary>
    public IReadOnlyList<ParameterInfo> Entries => _entries;

    /// <summary>Appends a tensor; returns its offset.</summary>
    internal long Add(string name, params int[] shape)
    {
        var e = new ParameterInfo(name, shape, TotalSize);
        _entries.Add(e);
        _byName.Add(name, e);
        TotalSize = checked(TotalSize + e.Size);
        return e.Offset;
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public ParameterInfo this[string name] =>
        _byName.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"no parameter named '{name}'");
}
