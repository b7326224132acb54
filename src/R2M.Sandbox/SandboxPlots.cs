using R2M.Sandbox.Internal;
using ScottPlot;

namespace R2M.Sandbox;

/// <summary>
/// The figures of the demo and the study from per-step metrics (ScottPlot 5; PNG and SVG). Every
/// line is one variant's mean over seeds, with a band from the min to the max over seeds; each
/// variant keeps one colour and line pattern in every figure; legends sit outside the data area;
/// every axis names its unit. RM rewards of different variants are different quantities (each
/// variant's RM has its own scale), so the proxy figure has one panel per variant. A figure whose
/// metric no variant has is skipped. Definitions: docs/sandbox.md "Figures".
/// </summary>
public static class SandboxPlots
{
    private const int PanelWidth = 900, PanelHeight = 500, SmallWidth = 420, SmallHeight = 320;
    private const string StepAxis = "RL step";
    private const int SmoothFromSteps = 50, SmoothingWindow = 9;

    /// <summary>Builds every figure that has data, without writing anything.</summary>
    public static IReadOnlyList<SandboxFigure> Build(IReadOnlyList<VariantStepMetrics> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        string[] variants = steps.Select(s => s.Variant).Distinct().ToArray();
        var styles = PlotStyles.ForVariants(variants);
        int seeds = steps.Select(s => (s.Variant, s.Seed)).Distinct().GroupBy(x => x.Variant).Select(g => g.Count()).DefaultIfEmpty(0).Max();
        // Runs of 50 steps or more (the study's) have per-step metrics from only n x K rollouts, so
        // each seed's curve is smoothed before the seed band is drawn; the title says so.
        int window = steps.Count == 0 ? 1 : steps.Max(s => s.Step) >= SmoothFromSteps ? SmoothingWindow : 1;
        string smoothed = window > 1 ? $", each seed smoothed over {window} steps" : string.Empty;
        string band = (seeds > 1 ? $"line: mean of {seeds} seeds, band: min-max over seeds" : "one seed") + smoothed;
        // The same, short enough for the small proxy panels and the side-by-side pairs.
        string compact = (seeds > 1 ? $"mean of {seeds} seeds, min-max band" : "one seed") + (window > 1 ? $", {window}-step smoothing" : string.Empty);
        var figures = new List<SandboxFigure?>
        {
            Single("gold", $"Gold reward\n{band}", "gold reward (LCS score, 0-1)", steps, variants, styles, s => s.GoldReward, window),
            Frontier(steps, variants, styles),
            ProxyPanels(steps, variants, styles, compact, window),
            Single("kl", $"KL to the SFT policy\n{band}", "KL (nats per token, k3 estimator)", steps, variants, styles, s => s.Kl, window),
            Single("bang", $"Responses with '!'\n{band}", "share of responses with '!' (0-1)", steps, variants, styles, s => s.BangRate, window),
            Single("rm_accuracy", $"On-policy RM accuracy against gold\n{band}", "share of gold-distinct pairs ordered as gold (0-1)", steps, variants, styles, s => s.OnPolicyAccuracy, window),
            Single("fused_share", $"Fused path's share of reward variance\n{band}", "Var(fused part) / Var(reward) (ratio)", steps, variants, styles, s => s.FusedShare, window),
            Pair("groups", $"Degenerate groups (RM reward std < 1e-6)\n{compact}", "share of groups (0-1)", s => s.DegenerateGroupShare,
                $"Groups whose gold rewards are all equal\n{compact}", "share of groups (0-1)", s => s.GoldTiedGroupShare, steps, variants, styles, window),
            Pair("grebt", $"GREBT: Bradley-Terry loss\n{compact}", "BT loss (nats)", s => s.BtLoss,
                $"GREBT: group reward entropy\n{compact}", "GRE loss (nats)", s => s.GreLoss, steps, variants, styles, window),
            Single("seam", $"SEAM discrepancy, policy likelihood vs reward\n{band}", "1 - Spearman (0 same order, 2 reversed)", steps, variants, styles, s => s.Seam, window),
        };
        return figures.OfType<SandboxFigure>().ToArray();
    }

    /// <summary>
    /// Writes every figure of <see cref="Build"/> into <paramref name="directory"/> as NAME.png and
    /// NAME.svg and returns the PNG paths (gold, frontier, proxy, kl, bang, ...; SVGs lie beside them).
    /// </summary>
    public static IReadOnlyList<string> WriteAll(IReadOnlyList<VariantStepMetrics> steps, string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        try
        {
            return Build(steps).Select(f => f.Save(directory).Png).ToArray();
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException)
        {
            throw new InvalidOperationException(
                $"the figures for {directory} could not be drawn: SkiaSharp's native library did not load ({e.GetBaseException().Message}); " +
                "it needs fontconfig and a font (bash scripts/setup.sh installs fontconfig and fonts-dejavu-core)", e);
        }
    }

    private static SandboxFigure? Single(string name, string title, string yLabel, IReadOnlyList<VariantStepMetrics> steps, string[] variants,
        IReadOnlyDictionary<string, VariantStyle> styles, Func<VariantStepMetrics, double?> metric, int window)
    {
        Plot? plot = LinesPanel(title, yLabel, steps, variants, styles, metric, legend: true, window);
        return plot is null ? null : new SandboxFigure(name, [plot], 1, PanelWidth, PanelHeight);
    }

    /// <summary>Two panels side by side over the same variants (legend on the right one).</summary>
    private static SandboxFigure? Pair(string name, string leftTitle, string leftY, Func<VariantStepMetrics, double?> left,
        string rightTitle, string rightY, Func<VariantStepMetrics, double?> right,
        IReadOnlyList<VariantStepMetrics> steps, string[] variants, IReadOnlyDictionary<string, VariantStyle> styles, int window)
    {
        Plot? a = LinesPanel(leftTitle, leftY, steps, variants, styles, left, legend: false, window);
        Plot? b = LinesPanel(rightTitle, rightY, steps, variants, styles, right, legend: true, window);
        Plot[] panels = new[] { a, b }.OfType<Plot>().ToArray();
        return panels.Length == 0 ? null : new SandboxFigure(name, panels, panels.Length, panels.Length == 1 ? PanelWidth : 720, PanelHeight);
    }

    /// <summary>One small panel per variant: its RM reward on its own axis (the scales differ: frozen, fused, retrained).</summary>
    private static SandboxFigure? ProxyPanels(IReadOnlyList<VariantStepMetrics> steps, string[] variants, IReadOnlyDictionary<string, VariantStyle> styles, string band, int window)
    {
        var panels = new List<Plot>();
        foreach (string v in variants)
        {
            SeedSeries s = SeedSeries.Of(steps, v, m => m.ProxyReward, window);
            if (s.IsEmpty) continue;
            // Small panels: the band's description goes under the variant's name, in a smaller font,
            // since it does not fit beside the x-axis label.
            Plot p = NewPlot($"{v}\n{band}", StepAxis, "RM reward (logits, own scale)");
            p.Axes.Title.Label.FontSize = 12;
            AddLine(p, s, styles[v], label: null);
            panels.Add(p);
        }
        if (panels.Count == 0) return null;
        return new SandboxFigure("proxy", panels, Math.Min(3, panels.Count), SmallWidth + 60, SmallHeight);
    }

    /// <summary>
    /// The overoptimization frontier (Gao et al. 2022, "Scaling Laws for Reward Model
    /// Overoptimization"): gold reward against sqrt(KL) per variant, the mean over seeds at each step
    /// (x = mean of sqrt(KL) over seeds); open markers are each seed's last step.
    /// </summary>
    private static SandboxFigure? Frontier(IReadOnlyList<VariantStepMetrics> steps, string[] variants, IReadOnlyDictionary<string, VariantStyle> styles)
    {
        Plot p = NewPlot("Overoptimization frontier (Gao et al. 2022)\nline: mean over seeds at each step; markers: each seed's last step",
            "sqrt(KL to the SFT policy) (sqrt of nats per token)", "gold reward (LCS score, 0-1)");
        bool any = false;
        foreach (string v in variants)
        {
            var rows = steps.Where(s => s.Variant == v && s.Kl is { } kl && double.IsFinite(kl) && kl >= 0 && s.GoldReward is not null).ToArray();
            if (rows.Length == 0) continue;
            var byStep = rows.GroupBy(s => s.Step).OrderBy(g => g.Key).ToArray();
            double[] x = byStep.Select(g => g.Average(s => Math.Sqrt(s.Kl!.Value))).ToArray();
            double[] y = byStep.Select(g => g.Average(s => s.GoldReward!.Value)).ToArray();
            VariantStyle style = styles[v];
            var line = p.Add.ScatterLine(x, y, style.Color);
            line.LinePattern = style.Pattern;
            line.LineWidth = 1.5f; // trajectories cross; thinner lines keep them apart
            line.LegendText = v;
            var finals = rows.GroupBy(s => s.Seed).Select(g => g.MaxBy(s => s.Step)!).ToArray();
            var marks = p.Add.ScatterPoints(finals.Select(s => Math.Sqrt(s.Kl!.Value)).ToArray(), finals.Select(s => s.GoldReward!.Value).ToArray(), style.Color);
            marks.MarkerShape = style.Marker;
            marks.MarkerSize = 9;
            any = true;
        }
        if (!any) return null;
        p.ShowLegend(Edge.Right);
        return new SandboxFigure("frontier", [p], 1, PanelWidth, PanelHeight + 60);
    }

    private static Plot? LinesPanel(string title, string yLabel, IReadOnlyList<VariantStepMetrics> steps, string[] variants,
        IReadOnlyDictionary<string, VariantStyle> styles, Func<VariantStepMetrics, double?> metric, bool legend, int window)
    {
        Plot p = NewPlot(title, StepAxis, yLabel);
        bool any = false;
        foreach (string v in variants)
        {
            SeedSeries s = SeedSeries.Of(steps, v, metric, window);
            if (s.IsEmpty) continue;
            AddLine(p, s, styles[v], v);
            any = true;
        }
        if (!any) return null;
        if (legend) p.ShowLegend(Edge.Right);
        else p.HideLegend();
        return p;
    }

    /// <summary>The mean line (legend entry <paramref name="label"/>) over a min-max band of the same colour, 20% opaque, without a legend entry.</summary>
    private static void AddLine(Plot p, SeedSeries s, VariantStyle style, string? label)
    {
        if (s.Seeds > 1)
        {
            var fill = p.Add.FillY(s.Steps, s.Min, s.Max);
            fill.FillColor = style.Color.WithAlpha(0.18);
            fill.LineWidth = 0;
            fill.LegendText = string.Empty;
        }
        var line = p.Add.ScatterLine(s.Steps, s.Mean, style.Color);
        line.LinePattern = style.Pattern;
        line.LineWidth = 2;
        line.LegendText = label ?? string.Empty;
        if (s.Steps.Length == 1)
        {
            line.MarkerShape = style.Marker;
            line.MarkerSize = 8;
        }
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var p = new Plot();
        p.Font.Set(PlotStyles.FontName);
        p.Title(title, size: 15);
        p.XLabel(xLabel, size: 13);
        p.YLabel(yLabel, size: 13);
        p.Legend.FontSize = 12;
        p.Legend.SymbolWidth = 36; // long enough to show each line pattern
        return p;
    }
}
