namespace R2M.Models.Layers;

/// <summary>Chunked parallel loops: rows are split into a few contiguous ranges, one per worker.</summary>
internal static class Par
{
    /// <summary>Worker count for element-wise layers (GEMM threads are set separately).</summary>
    public static int Threads { get; set; } = Environment.ProcessorCount;

    public static void For(int n, Action<int, int> range, int minChunk = 16)
    {
        var chunks = Math.Min(Threads, Math.Max(1, n / Math.Max(1, minChunk)));
        if (chunks <= 1)
        {
            range(0, n);
            return;
        }
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Threads }, c =>
        {
            var lo = (int)((long)n * c / chunks);
            var hi = (int)((long)n * (c + 1) / chunks);
            range(lo, hi);
        });
    }
}
