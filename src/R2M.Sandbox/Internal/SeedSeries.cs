namespace R2M.Sandbox.Internal;

/// <summary>
/// One metric of one variant over steps, across seeds: at each step where at least one seed has a
/// value, the mean, min and max over those seeds (steps where no seed has it are left out). With a
/// smoothing window w > 1, each seed's value at a step is first replaced by the mean of that seed's
/// values within w / 2 steps either side (a centred moving average, shorter at the ends), so the
/// band shows the spread over seeds of the smoothed curves rather than per-step sampling noise.
/// </summary>
internal sealed record SeedSeries(string Variant, double[] Steps, double[] Mean, double[] Min, double[] Max, int Seeds)
{
    public bool IsEmpty => Steps.Length == 0;

    public static SeedSeries Of(IEnumerable<VariantStepMetrics> steps, string variant, Func<VariantStepMetrics, double?> metric, int window = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        var rows = steps.Where(s => s.Variant == variant).ToArray();
        int seeds = rows.Select(s => s.Seed).Distinct().Count();
        var points = rows
            .Select(s => (s.Seed, s.Step, Value: metric(s)))
            .Where(p => p.Value is { } v && double.IsFinite(v))
            .Select(p => (p.Seed, p.Step, Value: p.Value!.Value))
            .GroupBy(p => p.Seed)
            .SelectMany(g => Smooth([.. g.OrderBy(p => p.Step).Select(p => (p.Step, p.Value))], window / 2))
            .GroupBy(p => p.Step)
            .OrderBy(g => g.Key)
            .Select(g => (Step: (double)g.Key, Values: g.Select(p => p.Value).ToArray()))
            .ToArray();
        return new SeedSeries(variant,
            points.Select(p => p.Step).ToArray(),
            points.Select(p => p.Values.Average()).ToArray(),
            points.Select(p => p.Values.Min()).ToArray(),
            points.Select(p => p.Values.Max()).ToArray(),
            seeds);
    }

    /// <summary>One seed's (step, value) points, each value the mean of the values within <paramref name="half"/> steps of it.</summary>
    private static IEnumerable<(int Step, double Value)> Smooth((int Step, double Value)[] points, int half) =>
        half == 0 ? points : points.Select(p => (p.Step, points.Where(q => Math.Abs(q.Step - p.Step) <= half).Average(q => q.Value)));

    /// <summary>Each seed's value at its last step that has one: (seed, step, value).</summary>
    public static IReadOnlyList<(ulong Seed, VariantStepMetrics Final)> Finals(IEnumerable<VariantStepMetrics> steps, string variant) =>
        steps.Where(s => s.Variant == variant)
            .GroupBy(s => s.Seed)
            .OrderBy(g => g.Key)
            .Select(g => (g.Key, g.MaxBy(s => s.Step)!))
            .ToArray();
}
