namespace R2M.Sandbox;

/// <summary>
/// The demo's standard figures from the per-step metrics: one SVG per quantity, one line per
/// variant (mean over seeds at each step). Steps where a quantity is missing leave a gap.
/// </summary>
public static class SandboxPlots
{
    /// <summary>
    /// Writes gold.svg, proxy.svg, gold_vs_proxy.svg, kl.svg, grebt.svg and seam.svg into
    /// <paramref name="directory"/> and returns their paths (a figure with no data at all is
    /// skipped, e.g. grebt.svg when no variant updated the RM).
    /// </summary>
    public static IReadOnlyList<string> WriteAll(IReadOnlyList<VariantStepMetrics> steps, string directory)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var paths = new List<string>();
        string[] variants = steps.Select(s => s.Variant).Distinct().ToArray();

        Save(paths, directory, "gold.svg", PerVariant("Gold reward (true task reward)", "gold reward", steps, variants, s => s.GoldReward));
        Save(paths, directory, "proxy.svg", PerVariant("Proxy reward (reward model score)", "proxy reward", steps, variants, s => s.ProxyReward));
        var both = new SvgLinePlot("Gold vs proxy reward", "step", "reward");
        foreach (string v in variants)
        {
            both.Add($"{v} gold", MeanByStep(steps, v, s => s.GoldReward));
            both.Add($"{v} proxy", MeanByStep(steps, v, s => s.ProxyReward));
        }
        Save(paths, directory, "gold_vs_proxy.svg", both);
        Save(paths, directory, "kl.svg", PerVariant("KL to the SFT policy", "KL (nats/token)", steps, variants, s => s.Kl));
        var grebt = new SvgLinePlot("GREBT losses", "step", "loss");
        foreach (string v in variants)
        {
            grebt.Add($"{v} BT", MeanByStep(steps, v, s => s.BtLoss));
            grebt.Add($"{v} GRE", MeanByStep(steps, v, s => s.GreLoss));
        }
        Save(paths, directory, "grebt.svg", grebt);
        Save(paths, directory, "seam.svg", PerVariant("SEAM discrepancy (1 - Spearman)", "discrepancy", steps, variants, s => s.Seam));
        return paths;
    }

    /// <summary>Mean of a metric over seeds at each step of one variant (NaN where no seed has it).</summary>
    public static IReadOnlyList<(double X, double Y)> MeanByStep(
        IEnumerable<VariantStepMetrics> steps, string variant, Func<VariantStepMetrics, double?> metric) =>
        steps.Where(s => s.Variant == variant)
            .GroupBy(s => s.Step)
            .OrderBy(g => g.Key)
            .Select(g =>
            {
                double[] values = g.Select(metric).Where(v => v.HasValue).Select(v => v!.Value).ToArray();
                return ((double)g.Key, values.Length > 0 ? values.Average() : double.NaN);
            })
            .ToArray();

    private static SvgLinePlot PerVariant(string title, string yLabel, IReadOnlyList<VariantStepMetrics> steps,
        string[] variants, Func<VariantStepMetrics, double?> metric)
    {
        var plot = new SvgLinePlot(title, "step", yLabel);
        foreach (string v in variants)
        {
            plot.Add(v, MeanByStep(steps, v, metric));
        }
        return plot;
    }

    private static void Save(List<string> paths, string directory, string name, SvgLinePlot plot)
    {
        if (!plot.Series.Any(s => s.Points.Any(p => double.IsFinite(p.Y))))
        {
            return;
        }
        string path = Path.Combine(directory, name);
        plot.Save(path);
        paths.Add(path);
    }
}
