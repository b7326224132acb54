namespace R2M.Alignment;

/// <summary>
/// Bounded cache of reward token embeddings keyed by rollout id (docs/method.md section 3: H_last
/// depends only on the frozen backbone, so re-scoring after a head update reuses it). Least
/// recently used entries are evicted beyond <see cref="Capacity"/>. Thread-safe.
/// </summary>
public sealed class RteCache
{
    private readonly Dictionary<string, LinkedListNode<(string Id, float[] Rte)>> _map = new(StringComparer.Ordinal);
    private readonly LinkedList<(string Id, float[] Rte)> _lru = new();
    private readonly Lock _lock = new();

    public RteCache(int capacity)
    {
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "capacity must be positive");
        Capacity = capacity;
    }

    public int Capacity { get; }

    /// <summary>Backbone runs avoided so far.</summary>
    public long Hits { get; private set; }

    /// <summary>Backbone runs done through <see cref="GetOrAdd"/>.</summary>
    public long Misses { get; private set; }

    public int Count { get { lock (_lock) return _map.Count; } }

    /// <summary>Returns the cached RTE of rolloutId, or computes it once with <paramref name="compute"/> and keeps it.</summary>
    public float[] GetOrAdd(string rolloutId, Func<float[]> compute)
    {
        ArgumentException.ThrowIfNullOrEmpty(rolloutId);
        ArgumentNullException.ThrowIfNull(compute);
        lock (_lock)
        {
            if (_map.TryGetValue(rolloutId, out var node))
            {
                Hits++;
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value.Rte;
            }
        }
        var rte = compute(); // outside the lock: the backbone is slow
        if (!R2MHead.Finite(rte)) throw new ArgumentException($"RTE of rollout '{rolloutId}' contains NaN or Inf");
        lock (_lock)
        {
            Misses++;
            if (_map.TryGetValue(rolloutId, out var raced)) return raced.Value.Rte;
            _map[rolloutId] = _lru.AddFirst((rolloutId, rte));
            while (_map.Count > Capacity)
            {
                _map.Remove(_lru.Last!.Value.Id);
                _lru.RemoveLast();
            }
            return rte;
        }
    }

    /// <summary>
    /// The RTEs of rolloutIds (null entries: items without an id, never cached), computing every missing one in one
    /// call: <paramref name="computeMissing"/> gets the positions of the missing items and returns their RTEs in that
    /// order (e.g. one batched backbone forward). The backbone runs outside the lock.
    /// </summary>
    public float[][] GetOrAddMany(IReadOnlyList<string?> rolloutIds, Func<IReadOnlyList<int>, IReadOnlyList<float[]>> computeMissing)
    {
        ArgumentNullException.ThrowIfNull(rolloutIds);
        ArgumentNullException.ThrowIfNull(computeMissing);
        var result = new float[rolloutIds.Count][];
        var missing = new List<int>();
        lock (_lock)
        {
            for (int i = 0; i < rolloutIds.Count; i++)
            {
                if (rolloutIds[i] is { } id && _map.TryGetValue(id, out var node))
                {
                    Hits++;
                    _lru.Remove(node);
                    _lru.AddFirst(node);
                    result[i] = node.Value.Rte;
                }
                else missing.Add(i);
            }
        }
        if (missing.Count == 0) return result;
        var computed = computeMissing(missing);
        if (computed.Count != missing.Count) throw new InvalidOperationException($"{computed.Count} RTEs computed for {missing.Count} missing items");
        for (int j = 0; j < missing.Count; j++)
        {
            if (!R2MHead.Finite(computed[j])) throw new ArgumentException($"RTE of item {missing[j]} contains NaN or Inf");
            result[missing[j]] = computed[j];
        }
        lock (_lock)
        {
            foreach (var i in missing)
            {
                if (rolloutIds[i] is not { } id) continue;
                Misses++;
                if (_map.TryGetValue(id, out var raced)) { result[i] = raced.Value.Rte; continue; }
                _map[id] = _lru.AddFirst((id, result[i]));
            }
            while (_map.Count > Capacity)
            {
                _map.Remove(_lru.Last!.Value.Id);
                _lru.RemoveLast();
            }
        }
        return result;
    }

    /// <summary>Drops every entry (counters stay).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _map.Clear();
            _lru.Clear();
        }
    }

    /// <summary>The cached RTE, or null.</summary>
    public float[]? TryGet(string rolloutId)
    {
        lock (_lock) return _map.TryGetValue(rolloutId, out var n) ? n.Value.Rte : null;
    }
}
