namespace R2M.Alignment;

/// <summary>One named tensor inside a contiguous parameter buffer.</summary>
/// <param name="Name">Checkpoint name, e.g. "r2m.w_q".</param>
/// <param name="Offset">First element in the flat buffer.</param>
/// <param name="Shape">Row-major shape.</param>
public sealed record ParameterEntry(string Name, int Offset, int[] Shape)
{
    /// <summary>Number of elements (product of the shape).</summary>
    public int Length => Shape.Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Layout table of a contiguous buffer (llm.c style): parameters, gradients and both AdamW moments
/// share it, so an optimizer step, clipping and checkpointing run over one flat span.
/// </summary>
public sealed class ParameterLayout
{
    private readonly List<ParameterEntry> _entries = [];
    private readonly Dictionary<string, ParameterEntry> _byName = new(StringComparer.Ordinal);

    /// <summary>Total number of floats.</summary>
    public int Size { get; private set; }

    /// <summary>Entries in buffer order.</summary>
    public IReadOnlyList<ParameterEntry> Entries => _entries;

    /// <summary>Appends a tensor; returns its entry.</summary>
    public ParameterEntry Add(string name, params int[] shape)
    {
        if (_byName.ContainsKey(name)) throw new ArgumentException($"duplicate parameter name '{name}'", nameof(name));
        if (shape.Any(d => d < 0)) throw new ArgumentException($"negative dimension in shape of '{name}'", nameof(shape));
        var e = new ParameterEntry(name, Size, shape);
        checked { Size += e.Length; }
        _entries.Add(e);
        _byName.Add(name, e);
        return e;
    }

    /// <summary>Entry by name.</summary>
    public ParameterEntry this[string name] =>
        _byName.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"no parameter named '{name}'");

    /// <summary>Named view into a buffer laid out by this table.</summary>
    public Span<float> View(Span<float> buffer, string name)
    {
        var e = this[name];
        return buffer.Slice(e.Offset, e.Length);
    }
}
