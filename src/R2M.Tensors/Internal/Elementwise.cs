namespace R2M.Tensors.Internal;

/// <summary>Runs an element-wise body over [0, count) in 1024-element blocks on the thread pool.</summary>
internal static unsafe class Elementwise
{
    public const int Block = 1024;

    /// <summary>body(offset, length) per block; blocks are independent.</summary>
    public static void For(int count, int costPerElement, Action<int, int> body)
    {
        int blocks = (count + Block - 1) / Block;
        Par.For(blocks, (long)Block * costPerElement, (b0, b1) =>
        {
            for (int blk = b0; blk < b1; blk++)
            {
                int off = blk * Block;
                body(off, Math.Min(Block, count - off));
            }
        });
    }
}
