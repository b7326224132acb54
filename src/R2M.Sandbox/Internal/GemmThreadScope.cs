using R2M.Tensors;

namespace R2M.Sandbox.Internal;

/// <summary>
/// Runs sandbox training with one GEMM thread. The sandbox's matrices are tiny (a few thousand rows
/// by 48-192 columns), so threads cost more than they give. Measured on the shared 2-core machine
/// (docs/sandbox.md): 150 SFT + 150 RM steps took 11.8 s CPU / 33 s wall with one thread and
/// 21 s / 49 s with two; 200 SFT steps at lower load 3.1 s / 5.1 s and 3.9 s / 4.7 s. One thread
/// also fixes the summation order, so the weights do not depend on the machine's core count.
/// <see cref="Gemm.ThreadCount"/> is process-wide: the first scope saves it and the last one to end
/// restores it, so overlapping preparations (parallel tests) all train single-threaded.
/// </summary>
internal sealed class GemmThreadScope : IDisposable
{
    private static readonly Lock Gate = new();
    private static int s_active;
    private static int s_saved;
    private bool _disposed;

    public GemmThreadScope()
    {
        lock (Gate)
        {
            if (s_active++ == 0)
            {
                s_saved = Gemm.ThreadCount;
                Gemm.ThreadCount = 1;
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        lock (Gate)
        {
            if (--s_active == 0)
            {
                Gemm.ThreadCount = s_saved;
            }
        }
    }
}
