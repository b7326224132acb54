using System.Collections.Concurrent;

namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>
/// Thread-safe, bounded cache: piece text -> ids. Lookups use the span directly (alternate
/// lookup, no string allocation). When full it is cleared wholesale: cheaper than LRU
/// bookkeeping on every hit, and the working set of a text refills it quickly.
/// </summary>
internal sealed class BpeCache
{
    public const int MaxEntries = 1 << 17;
    public const int MaxKeyLength = 256;

    private readonly ConcurrentDictionary<string, int[]> _map = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private int _count;

    public BpeCache() => _lookup = _map.GetAlternateLookup<ReadOnlySpan<char>>();

    public int Count => Volatile.Read(ref _count);

    public bool TryGet(ReadOnlySpan<char> key, out int[] ids) => _lookup.TryGetValue(key, out ids!);

    public void TryAdd(ReadOnlySpan<char> key, List<int> output, int from)
    {
        if (key.Length > MaxKeyLength) return;
        if (Interlocked.Increment(ref _count) > MaxEntries)
        {
            _map.Clear();
            Interlocked.Exchange(ref _count, 0);
        }
        var ids = new int[output.Count - from];
        output.CopyTo(from, ids, 0, ids.Length);
        _lookup.TryAdd(key, ids);
    }
}
