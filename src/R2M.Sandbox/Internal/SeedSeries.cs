namespace R2M.Sandbox.Internal;

/// <summary>
/// One metric of one variant over steps, across seeds: at each step where at least one seed has a
/// value, the mean, min and max over those seeds (steps where no seed has it are left out).
/// </summary>
internal sealed record SeedSeries(string Variant, double[] Steps, double[] Mean, double[] Min, double[] Max, int Seeds)
{
    public bool IsEmpty => Steps.Length == 0;

    public static SeedSeries Of(IEnumerable<VariantStepMetrics> steps, string variant, Func<VariantStepMetrics, double?> metric)
    {
        var rows = steps.Where(s => s.Variant == variant).ToArray();
        int seeds = rows.Select(s => s.Seed).Distinct().Count();
        var points = rows
            .Select(s => (s.Step, Value: metric(s)))
            .Where(p => p.Value is { } v && double.IsFinite(v))
            .GroupBy(p => p.Step)
            .OrderBy(g => g.Key)
            .Select(g => (Step: (double)g.Key, Values: g.Select(p => p.Value!.Value).ToArray()))
            .ToArray();
        return new SeedSeries(variant,
            points.Select(p => p.Step).ToArray(),
            points.Select(p => p.Values.Average()).ToArray(),
            points.Select(p => p.Values.Min()).ToArray(),
            points.Select(p => p.Values.Max()).ToArray(),
            seeds);
    }

    /// <summary>Each seed's value at its last step that has one: (seed, step, value).</summary>
    public static IReadOnlyList<(ulong Seed, VariantStepMetrics Final)> Finals(IEnumerable<VariantStepMetrics> steps, string variant) =>
        steps.Where(s => s.Variant == variant)
            .GroupBy(s => s.Seed)
            .OrderBy(g => g.Key)
            .Select(g => (g.Key, g.MaxBy(s => s.Step)!))
            .ToArray();
}
