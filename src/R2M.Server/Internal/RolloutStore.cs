using System.Security.Cryptography;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>Hidden states (Rows, D_p), row-major.</summary>
internal sealed record Feedback(float[] Hidden, int Rows);

/// <summary>A sampled rollout kept for Score, Optimize and Update by id.</summary>
internal sealed class StoredRollout
{
    public required string Id { get; init; }
    public required int[] PromptTokens { get; init; }
    public required int[] ResponseTokens { get; init; }
    public required float[] Logprobs { get; init; }
    public required float Temperature { get; init; }
    public required ulong PolicyVersion { get; init; }

    /// <summary>Reward-model token ids of prompt + response (the RM's own tokenizer).</summary>
    public required int[] RmTokens { get; init; }

    /// <summary>Why the rollout cannot be given to the reward model (e.g. longer than the RM context), or null.</summary>
    public string? RmTokensError { get; init; }

    private Feedback _feedback = new([], 0);

    /// <summary>
    /// Policy hidden states h (Rows, D_p), replaced by Optimize's refresh (h'). One immutable pair,
    /// swapped by reference, so a concurrent Score never reads new states with an old row count.
    /// </summary>
    public Feedback Feedback
    {
        get => Volatile.Read(ref _feedback);
        set => Volatile.Write(ref _feedback, value);
    }

    /// <summary>The last reward Score gave this rollout (the annotation-time reward for Update).</summary>
    public float? LastReward { get; set; }

    public long Bytes => 4L * (PromptTokens.Length + ResponseTokens.Length + Logprobs.Length + RmTokens.Length + Feedback.Hidden.Length) + 256;
}

/// <summary>
/// Bounded store of rollouts, evicting the oldest beyond a byte cap. Every miss says whether the id
/// was evicted or never existed (NOT_FOUND naming the ids): eviction is never silent.
/// </summary>
internal sealed class RolloutStore(long capacityBytes, ServerMetrics metrics)
{
    private const int EvictedIdsRemembered = 1 << 16;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<(StoredRollout Rollout, long Bytes)>> _byId = new(StringComparer.Ordinal);
    private readonly LinkedList<(StoredRollout Rollout, long Bytes)> _order = new();
    private readonly HashSet<string> _evictedIds = new(StringComparer.Ordinal);
    private readonly Queue<string> _evictedOrder = new();
    private long _bytes, _evicted, _hits, _misses;

    public long CapacityBytes => capacityBytes;

    /// <summary>
    /// A new rollout id: "ro-" and 128 random bits (32 hex digits) from the system CSPRNG. A rollout id
    /// is the only thing that lets a client score, train on or refresh a rollout, so ids must not be
    /// guessable from one another (sequential ids let any client touch every other client's rollouts);
    /// 128 bits also keeps them unique across restarts without a per-process prefix.
    /// </summary>
    public static string NewId() => "ro-" + RandomNumberGenerator.GetHexString(32, lowercase: true);

    /// <summary>Adds a rollout; returns how many old ones were evicted to make room.</summary>
    public int Add(StoredRollout rollout)
    {
        var bytes = rollout.Bytes;
        if (bytes > capacityBytes)
        {
            throw new LimitExceededException($"rollout {rollout.Id} needs {bytes} bytes, more than the whole rollout store ({capacityBytes} bytes, R2M:RolloutStoreBytes)");
        }

        lock (_lock)
        {
            _byId[rollout.Id] = _order.AddLast((rollout, bytes));
            _bytes += bytes;
            var evicted = 0;
            while (_bytes > capacityBytes && _order.First is { } oldest)
            {
                Remove(oldest);
                Remember(oldest.Value.Rollout.Id);
                evicted++;
            }

            _evicted += evicted;
            Publish();
            return evicted;
        }
    }

    /// <summary>Re-measures a rollout whose hidden states were replaced (Optimize refresh).</summary>
    public void Resize(StoredRollout rollout)
    {
        lock (_lock)
        {
            if (_byId.TryGetValue(rollout.Id, out var node))
            {
                _bytes += rollout.Bytes - node.Value.Bytes;
                node.Value = (rollout, rollout.Bytes);
                Publish();
            }
        }
    }

    public StoredRollout Get(string id, string field)
    {
        var found = TryGetMany([id], out var missing);
        return missing.Count == 0 ? found[0] : throw new RolloutNotFoundException($"{field}: {Describe(missing)}");
    }

    /// <summary>Looks up every id; throws NOT_FOUND listing all missing ones (nothing is used then).</summary>
    public StoredRollout[] GetAll(IReadOnlyList<string> ids, string field)
    {
        var found = TryGetMany(ids, out var missing);
        return missing.Count == 0 ? found : throw new RolloutNotFoundException($"{field}: {Describe(missing)}");
    }

    public (long Rollouts, long Bytes, long Evicted, long Hits, long Misses) Stats()
    {
        lock (_lock)
        {
            return (_byId.Count, _bytes, _evicted, _hits, _misses);
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _byId.Clear();
            _order.Clear();
            _bytes = 0;
            Publish();
        }
    }

    private StoredRollout[] TryGetMany(IReadOnlyList<string> ids, out List<string> missing)
    {
        missing = [];
        var found = new StoredRollout[ids.Count];
        lock (_lock)
        {
            for (var i = 0; i < ids.Count; i++)
            {
                if (_byId.TryGetValue(ids[i], out var node))
                {
                    found[i] = node.Value.Rollout;
                    _hits++;
                }
                else
                {
                    missing.Add(ids[i]);
                    _misses++;
                }
            }
        }

        return found;
    }

    private string Describe(List<string> missing)
    {
        lock (_lock)
        {
            var parts = missing.Distinct().Take(20).Select(id => _evictedIds.Contains(id)
                ? $"rollout '{id}' was evicted from the rollout store (capacity {capacityBytes} bytes)"
                : $"rollout '{id}' is unknown");
            var more = missing.Count > 20 ? $" (and {missing.Count - 20} more)" : "";
            return string.Join("; ", parts) + more;
        }
    }

    private void Remove(LinkedListNode<(StoredRollout Rollout, long Bytes)> node)
    {
        _order.Remove(node);
        _byId.Remove(node.Value.Rollout.Id);
        _bytes -= node.Value.Bytes;
    }

    private void Remember(string id)
    {
        if (_evictedIds.Add(id))
        {
            _evictedOrder.Enqueue(id);
            if (_evictedOrder.Count > EvictedIdsRemembered)
            {
                _evictedIds.Remove(_evictedOrder.Dequeue());
            }
        }
    }

    private void Publish() => metrics.SetStore(_byId.Count, _bytes, _evicted);

    public StoreStats ToInfo()
    {
        var s = Stats();
        return new StoreStats
        {
            Rollouts = (ulong)s.Rollouts, Bytes = (ulong)s.Bytes, CapacityBytes = (ulong)capacityBytes,
            EvictedTotal = (ulong)s.Evicted, Hits = (ulong)s.Hits, Misses = (ulong)s.Misses,
        };
    }
}
