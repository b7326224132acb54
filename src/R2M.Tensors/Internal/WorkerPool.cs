namespace R2M.Tensors.Internal;

/// <summary>Runs body(0..parts-1) on up to <see cref="Gemm.ThreadCount"/> threads, the caller included.</summary>
internal static class WorkerPool
{
    public static void Run(int parts, Action<int> body)
    {
        if (parts <= 1)
        {
            if (parts == 1)
            {
                body(0);
            }
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(parts, Gemm.ThreadCount) }, body);
    }
}
