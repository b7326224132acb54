using System.Buffers;

namespace R2M.Client.Tests;

public sealed class SharedArrayPoolCapacityTests
{
    private static int DefaultCapacity => (SharedArrayPoolCapacity.DefaultArraysPerCore * Environment.ProcessorCount) + 1;

    [Fact]
    public void KeepsMoreThanDefault_PoolHoldingDefaultCapacity_False()
    {
        // As many arrays as a default shared pool holds (32 per core + the thread's own slot); one
        // bucket only (16 bytes), so a configurable pool cannot fall back to a larger size.
        var pool = ArrayPool<byte>.Create(maxArrayLength: 16, maxArraysPerBucket: DefaultCapacity);

        Assert.False(SharedArrayPoolCapacity.KeepsMoreThanDefault(pool));
    }

    [Fact]
    public void KeepsMoreThanDefault_PoolHoldingMore_True()
    {
        var pool = ArrayPool<byte>.Create(maxArrayLength: 16, maxArraysPerBucket: DefaultCapacity + 1);

        Assert.True(SharedArrayPoolCapacity.KeepsMoreThanDefault(pool));
    }

    [Fact]
    public void TryRaise_DefaultCapacityOrLess_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedArrayPoolCapacity.TryRaise(SharedArrayPoolCapacity.DefaultArraysPerCore));
    }
}
