namespace R2M.Alignment.Tests;

public sealed class MiscTests
{
    [Fact]
    public void Seam_SameOrderZero_ReversedTwo_ConstantUndefined()
    {
        Assert.Equal(0.0, Seam.Discrepancy(new[] { -3f, -2f, -1f }, new[] { 1, 1, 1 }, new[] { 0f, 1f, 2f })!.Value, 6);
        Assert.Equal(2.0, Seam.Discrepancy(new[] { -3f, -2f, -1f }, new[] { 1, 1, 1 }, new[] { 2f, 1f, 0f })!.Value, 6);
        Assert.Null(Seam.Discrepancy(new[] { -3f, -2f, -1f }, new[] { 1, 1, 1 }, new[] { 5f, 5f, 5f }));
        // length normalisation: -6 over 6 tokens (-1 per token) beats -2 over 1 token
        Assert.Equal(0.0, Seam.Discrepancy(new[] { -6f, -2f }, new[] { 6, 1 }, new[] { 1f, 0f })!.Value, 6);
        Assert.Throws<ArgumentException>(() => Seam.Discrepancy(new[] { -1f, -2f }, new[] { 1 }, new[] { 1f, 0f }));
    }

    [Fact]
    public void Seam_Discrepancy_SpearmanBased()
    {
        Assert.Equal(0.0, Seam.Discrepancy([1, 2, 3, 4], [10, 20, 30, 40])!.Value, 12);
        Assert.Equal(2.0, Seam.Discrepancy([1, 2, 3, 4], [4, 3, 2, 1])!.Value, 12);
        Assert.Equal(0.0, Seam.Discrepancy([1, 5, 9], [0.1, 0.2, 100])!.Value, 12); // ranks only
        Assert.Null(Seam.Discrepancy([1, 1, 1], [1, 2, 3]));
        Assert.Null(Seam.Discrepancy([1], [1]));
        Assert.Throws<ArgumentException>(() => Seam.Discrepancy([1, 2], [1]));
        Assert.Equal([1.5, 1.5, 3.0], Seam.Ranks([2, 2, 5]));
    }

    [Fact]
    public void RteCache_BoundedLru_EvictsOldest()
    {
        var cache = new RteCache(2);
        int calls = 0;
        float[] Make() { calls++; return [calls]; }
        cache.GetOrAdd("a", Make);
        cache.GetOrAdd("b", Make);
        cache.GetOrAdd("a", Make); // hit, a becomes most recent
        cache.GetOrAdd("c", Make); // evicts b
        Assert.Equal(3, calls);
        Assert.Null(cache.TryGet("b"));
        Assert.NotNull(cache.TryGet("a"));
        Assert.Equal(2, cache.Count);
        Assert.Throws<ArgumentException>(() => cache.GetOrAdd("d", () => [float.NaN]));
    }

    [Fact]
    public void LrSchedule_WarmupThenShapes()
    {
        var cos = new LrSchedule(LrScheduleKind.Cosine, WarmupSteps: 2, TotalSteps: 12);
        Assert.Equal(1f / 3, cos.At(1f, 0), 1e-6f);
        Assert.Equal(1f, cos.At(1f, 2), 1e-6f);
        Assert.Equal(0.5f, cos.At(1f, 7), 1e-6f);
        Assert.Equal(0f, cos.At(1f, 12), 1e-6f);
        Assert.Equal(0.5f, new LrSchedule(LrScheduleKind.Linear, 0, 10).At(1f, 5), 1e-6f);
        Assert.Equal(1f, new LrSchedule().At(1f, 1000));
    }

    [Fact]
    public void AdamW_FirstStepMovesByLrTimesSign_AndRefusesNaN()
    {
        var opt = new AdamWOptimizer(3, new AdamWOptions(0.1f, WeightDecay: 0f));
        var p = new float[] { 1f, 1f, 1f };
        opt.Update(p, new[] { 2f, -3f, 0f }, 0.1f);
        Assert.Equal(0.9f, p[0], 1e-5f);
        Assert.Equal(1.1f, p[1], 1e-5f);
        Assert.Equal(1f, p[2]);
        Assert.Throws<ArgumentException>(() => opt.Update(p, new[] { float.NaN, 0f, 0f }, 0.1f));
        Assert.Equal(1, opt.Step);
    }
}
