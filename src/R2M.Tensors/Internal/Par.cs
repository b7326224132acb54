namespace R2M.Tensors.Internal;

/// <summary>
/// Splits row-parallel kernel work into contiguous ranges on up to <see cref="Gemm.ThreadCount"/>
/// threads. Small jobs (below ~64K scalar operations) run inline: thread hand-off would cost more.
/// </summary>
internal static class Par
{
    private const long MinWorkPerTask = 1 << 16;

    /// <summary>Runs body(start, end) over [0, count) in chunks; costPerItem is a rough op count.</summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int threads = Gemm.ThreadCount;
        long total = count * Math.Max(1, costPerItem);
        int tasks = (int)Math.Min(Math.Min(count, threads * 4L), Math.Max(1, total / MinWorkPerTask));
        if (tasks <= 1 || threads <= 1)
        {
            if (count > 0)
            {
                body(0, count);
            }
            return;
        }
        int chunk = (count + tasks - 1) / tasks;
        tasks = (count + chunk - 1) / chunk;
        WorkerPool.Run(tasks, threads, t => body(t * chunk, Math.Min(count, (t + 1) * chunk)));
    }
}
