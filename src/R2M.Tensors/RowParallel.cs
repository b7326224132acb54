using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// The kernels' row-parallel loop, for callers composing kernels (R2M.Models' head split/merge):
/// [0, count) is cut into contiguous ranges on up to <see cref="Gemm.ThreadCount"/> threads; jobs
/// below ~64K scalar operations run inline because a thread hand-off would cost more.
/// </summary>
public static class RowParallel
{
    /// <summary>Runs body(start, end) over [0, count); costPerItem is a rough count of scalar operations per item.</summary>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Check.Dims(count, nameof(count));
        Par.For(count, costPerItem, body);
    }
}
