namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>
/// Applies BPE merges to a word given as symbol ids: repeatedly merge the adjacent pair with the
/// lowest rank, ties to the leftmost (huggingface/tokenizers models/bpe/word.rs; transformers.js BPE.bpe).
/// Short words use a flat array with cached pair ranks (O(n^2) moves on tiny n, no allocation);
/// long words use a binary heap over (rank, position) with a linked list, O(n log n), so a
/// 100k-char word cannot make the merge loop quadratic. Negative ids are unknown symbols that
/// take part in no merge.
/// </summary>
internal sealed class BpeMerger(Dictionary<long, long> merges)
{
    private const int HeapThreshold = 48;

    /// <summary>(rank, merged id) of the pair, or false.</summary>
    private bool TryGet(int a, int b, out int rank, out int merged)
    {
        if (a >= 0 && b >= 0 && merges.TryGetValue(((long)a << 32) | (uint)b, out var v))
        {
            rank = (int)(v >> 32);
            merged = (int)v;
            return true;
        }
        rank = merged = 0;
        return false;
    }

    /// <summary>Merges <paramref name="symbols"/>[0..n) in place; returns the new length.</summary>
    public int Merge(int[] symbols, int n, MergeScratch scratch)
    {
        if (n < 2) return n;
        return n <= HeapThreshold ? MergeSmall(symbols, n, scratch) : MergeLarge(symbols, n, scratch);
    }

    private int MergeSmall(int[] sym, int n, MergeScratch scratch)
    {
        var ranks = scratch.Ranks(n);
        for (var i = 0; i < n - 1; i++) ranks[i] = TryGet(sym[i], sym[i + 1], out var r, out _) ? r : int.MaxValue;
        while (n > 1)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i < n - 1; i++)
            {
                if (ranks[i] < bestRank)
                {
                    bestRank = ranks[i];
                    best = i;
                }
            }
            if (best < 0) break;
            TryGet(sym[best], sym[best + 1], out _, out var merged);
            sym[best] = merged;
            Array.Copy(sym, best + 2, sym, best + 1, n - best - 2);
            Array.Copy(ranks, best + 2, ranks, best + 1, n - best - 3 > 0 ? n - best - 3 : 0);
            n--;
            if (best > 0) ranks[best - 1] = TryGet(sym[best - 1], sym[best], out var rl, out _) ? rl : int.MaxValue;
            if (best < n - 1) ranks[best] = TryGet(sym[best], sym[best + 1], out var rr, out _) ? rr : int.MaxValue;
        }
        return n;
    }

    private int MergeLarge(int[] sym, int n, MergeScratch scratch)
    {
        var (prev, next) = scratch.Links(n);
        var heap = scratch.Heap;
        heap.Clear();
        for (var i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (var i = 0; i < n - 1; i++) Push(heap, sym, i, i + 1);
        const int dead = int.MinValue;
        while (heap.TryDequeue(out var pos, out var priority))
        {
            var nx = next[pos];
            if (sym[pos] == dead || nx < 0) continue;
            // Ranks are unique per pair, so an equal rank means this entry describes the current pair.
            if (!TryGet(sym[pos], sym[nx], out var rank, out var merged) || rank != (int)(priority >> 32)) continue;
            sym[pos] = merged;
            sym[nx] = dead;
            next[pos] = next[nx];
            if (next[nx] >= 0) prev[next[nx]] = pos;
            if (prev[pos] >= 0) Push(heap, sym, prev[pos], pos);
            if (next[pos] >= 0) Push(heap, sym, pos, next[pos]);
        }
        var w = 0;
        for (var i = 0; i >= 0; i = next[i]) sym[w++] = sym[i];
        return w;
    }

    private void Push(PriorityQueue<int, long> heap, int[] sym, int left, int right)
    {
        if (TryGet(sym[left], sym[right], out var rank, out _)) heap.Enqueue(left, ((long)rank << 32) | (uint)left);
    }
}

/// <summary>Per-thread buffers for <see cref="BpeMerger"/>.</summary>
internal sealed class MergeScratch
{
    private int[] _ranks = new int[64];
    private int[] _prev = new int[64];
    private int[] _next = new int[64];

    public PriorityQueue<int, long> Heap { get; } = new();

    public int[] Ranks(int n)
    {
        if (_ranks.Length < n) _ranks = new int[n * 2];
        return _ranks;
    }

    public (int[] Prev, int[] Next) Links(int n)
    {
        if (_prev.Length < n)
        {
            _prev = new int[n * 2];
            _next = new int[n * 2];
        }
        return (_prev, _next);
    }
}
