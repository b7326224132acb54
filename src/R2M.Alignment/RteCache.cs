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

    /// <summary>The cached RTE, or null.</summary>
    public float[]? TryGet(string rolloutId)
    {
        lock (_lock) return _map.TryGetValue(rolloutId, out var n) ? n.Value.Rte : null;
    }
}
