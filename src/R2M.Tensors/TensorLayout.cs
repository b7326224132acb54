namespace R2M.Tensors;

/// <summary>
/// Layout table of named tensors in one contiguous float buffer (llm.c style): parameters,
/// gradients and optimizer moments each live in one flat buffer of <see cref="TotalSize"/> floats
/// that share this table, so AdamW and gradient clipping run over a single span while layers see
/// named views. Entries are laid out in insertion order without padding.
/// </summary>
public sealed class TensorLayout
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<Entry> _ordered = [];

    /// <summary>One named tensor: element offset into the buffer, element count and shape.</summary>
    public sealed record Entry(string Name, long Offset, int Count, int[] Shape);

    /// <summary>Total floats a buffer with this layout needs.</summary>
    public long TotalSize { get; private set; }

    /// <summary>Entries in layout order.</summary>
    public IReadOnlyList<Entry> Entries => _ordered;

    /// <summary>Appends a tensor; the name must be new and every dimension positive.</summary>
    public Entry Add(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (_entries.ContainsKey(name))
        {
            throw new ArgumentException($"tensor '{name}' is already in the layout", nameof(name));
        }
        long count = 1;
        foreach (int d in shape)
        {
            if (d <= 0)
            {
                throw new ArgumentException($"tensor '{name}' has a non-positive dimension in [{string.Join(",", shape)}]", nameof(shape));
            }
            count *= d;
        }
        if (count > int.MaxValue)
        {
            throw new ArgumentException($"tensor '{name}' [{string.Join(",", shape)}] exceeds int.MaxValue elements", nameof(shape));
        }
        var e = new Entry(name, TotalSize, (int)count, (int[])shape.Clone());
        _entries.Add(name, e);
        _ordered.Add(e);
        TotalSize += count;
        return e;
    }

    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The entry for a name; KeyNotFoundException names the missing tensor.</summary>
    public Entry this[string name] =>
        _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"tensor '{name}' is not in the layout");

    /// <summary>Named view into a buffer laid out by this table.</summary>
    public Span<float> View(Span<float> buffer, string name)
    {
        var e = this[name];
        if (buffer.Length < TotalSize)
        {
            throw new ArgumentException($"buffer has {buffer.Length} floats, layout needs {TotalSize}", nameof(buffer));
        }
        return buffer.Slice((int)e.Offset, e.Count);
    }

    /// <summary>Allocates a zeroed buffer of <see cref="TotalSize"/> floats.</summary>
    public float[] Allocate() => new float[checked((int)TotalSize)];
}
