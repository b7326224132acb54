namespace R2M.Sandbox.Internal;

/// <summary>
/// Yields example indices in shuffled epochs (Fisher-Yates on <see cref="SandboxRandom"/>), so a run's
/// batch order is a pure function of its seed and every example is seen once per epoch.
/// </summary>
internal sealed class EpochSampler(int count, SandboxRandom random)
{
    private readonly int[] _order = Enumerable.Range(0, count).ToArray();
    private int _next = count;

    public int[] NextBatch(int size)
    {
        var batch = new int[Math.Min(size, _order.Length)];
        for (int i = 0; i < batch.Length; i++)
        {
            if (_next == _order.Length)
            {
                Shuffle();
                _next = 0;
            }
            batch[i] = _order[_next++];
        }
        return batch;
    }

    private void Shuffle()
    {
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
    }
}
