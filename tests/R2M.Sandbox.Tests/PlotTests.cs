using System.Buffers.Binary;
using System.Xml.Linq;
using R2M.Sandbox.Internal;
using ScottPlot;

namespace R2M.Sandbox.Tests;

/// <summary>The figures: what each panel holds before rendering, and what the written PNG and SVG files contain.</summary>
public sealed class PlotTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly string[] Variants = ["VANILLA", "R2M", "ITERATIVE_RM_HEAD"];

    private static List<VariantStepMetrics> Steps(int seeds = 2, int steps = 5)
    {
        var list = new List<VariantStepMetrics>();
        foreach (string v in Variants)
        {
            for (ulong seed = 1; seed <= (ulong)seeds; seed++)
            {
                for (int step = 1; step <= steps; step++)
                {
                    bool updates = v != "VANILLA";
                    list.Add(new VariantStepMetrics
                    {
                        Variant = v, Seed = seed, Step = step, GoldReward = 0.7 - 0.01 * step + 0.01 * seed, ProxyReward = step * (v.Length + (double)seed),
                        BangRate = 0.1 * step, MeanResponseLength = 4, Kl = 0.01 * step * step,
                        BtLoss = updates ? 0.6 / step : null, GreLoss = updates ? 1.9 : null, Seam = 0.8,
                        OnPolicyAccuracy = 0.6, DegenerateGroupShare = 0, GoldTiedGroupShare = 0.1,
                        FusedShare = v == "R2M" ? 0.2 : null,
                    });
                }
            }
        }
        return list;
    }

    private static SandboxFigure Figure(IReadOnlyList<SandboxFigure> figures, string name) => figures.Single(f => f.Name == name);

    private static string[] Lines(Plot p) =>
        p.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Where(s => s.LegendText.Length > 0).Select(s => s.LegendText).ToArray();

    private static bool LegendOutsideRight(Plot p) => p.Axes.GetPanels().Any(x => x.GetType().Name == "LegendPanel" && x.Edge == Edge.Right);

    [Fact]
    public void SeedSeries_Window3_CentredMovingAveragePerSeedBeforeTheSeedBand()
    {
        // Seed 1: 0, 3, 6, 3 (steps 1-4); seed 2: 1 at every step. Centred 3-step averages, shorter at the ends:
        // seed 1 -> 1.5, 3, 4, 4.5; seed 2 -> 1 everywhere.
        double[] one = [0, 3, 6, 3];
        var rows = Enumerable.Range(1, 4).SelectMany(t => new[]
        {
            new VariantStepMetrics { Variant = "R2M", Seed = 1, Step = t, Seam = one[t - 1], ProxyReward = 0, MeanResponseLength = 4 },
            new VariantStepMetrics { Variant = "R2M", Seed = 2, Step = t, Seam = 1, ProxyReward = 0, MeanResponseLength = 4 },
        }).ToList();
        SeedSeries s = SeedSeries.Of(rows, "R2M", m => m.Seam, window: 3);
        Assert.Equal([1.5, 3, 4, 4.5], s.Max);
        Assert.Equal([1, 1, 1, 1], s.Min);
        Assert.Equal([1.25, 2, 2.5, 2.75], s.Mean);
        Assert.Equal([1, 3, 6, 3], SeedSeries.Of(rows, "R2M", m => m.Seam).Max); // window 1: max of the raw values
    }

    [Fact]
    public void Build_FiftyStepsOrMore_TitlesSayEachSeedIsSmoothed()
    {
        var figures = SandboxPlots.Build(Steps(seeds: 2, steps: 50));
        Plot gold = Assert.Single(Figure(figures, "gold").Panels);
        Assert.Contains("each seed smoothed over 9 steps", gold.Axes.Title.Label.Text);
        Assert.DoesNotContain("smoothed", Assert.Single(Figure(SandboxPlots.Build(Steps()), "gold").Panels).Axes.Title.Label.Text);
    }

    [Fact]
    public void Build_StepFigures_OneLineAndOneSeedBandPerVariantWithUnitsAndLegend()
    {
        var figures = SandboxPlots.Build(Steps());
        Assert.Equal(["gold", "frontier", "proxy", "kl", "bang", "rm_accuracy", "fused_share", "groups", "grebt", "seam"], figures.Select(f => f.Name));
        Plot gold = Assert.Single(Figure(figures, "gold").Panels);
        Assert.Equal(Variants, Lines(gold));
        Assert.Equal(3, gold.GetPlottables().OfType<ScottPlot.Plottables.FillY>().Count());
        Assert.Equal("RL step", gold.Axes.Bottom.Label.Text);
        Assert.Equal("gold reward (LCS score, 0-1)", gold.Axes.Left.Label.Text);
        Assert.Equal("Gold reward\nline: mean of 2 seeds, band: min-max over seeds", gold.Axes.Title.Label.Text);
        Assert.True(LegendOutsideRight(gold));
        Assert.Contains("nats per token", Assert.Single(Figure(figures, "kl").Panels).Axes.Left.Label.Text);
        Assert.Equal(["R2M"], Lines(Assert.Single(Figure(figures, "fused_share").Panels)));
    }

    [Fact]
    public void Build_Proxy_OnePanelPerVariantBecauseTheScalesDiffer()
    {
        SandboxFigure proxy = Figure(SandboxPlots.Build(Steps()), "proxy");
        Assert.Equal(Variants.Select(v => v + "\n" + "mean of 2 seeds, min-max band"), proxy.Panels.Select(p => p.Axes.Title.Label.Text));
        Assert.All(proxy.Panels, p =>
        {
            Assert.Single(p.GetPlottables().OfType<ScottPlot.Plottables.Scatter>());
            Assert.Equal("RM reward (logits, own scale)", p.Axes.Left.Label.Text);
        });
        Assert.Equal((1, 3), (proxy.Rows, proxy.Columns));
    }

    [Fact]
    public void Build_GrebtAndFrontier_OnlyVariantsThatHaveTheQuantity()
    {
        var figures = SandboxPlots.Build(Steps());
        SandboxFigure grebt = Figure(figures, "grebt");
        Assert.Equal(2, grebt.Panels.Count);
        Assert.Equal(["BT loss (nats)", "GRE loss (nats)"], grebt.Panels.Select(p => p.Axes.Left.Label.Text));
        Assert.All(grebt.Panels, p => Assert.Equal(["R2M", "ITERATIVE_RM_HEAD"], Lines(p)));
        Assert.True(LegendOutsideRight(grebt.Panels[1]));

        Plot frontier = Assert.Single(Figure(figures, "frontier").Panels);
        Assert.Equal(Variants, Lines(frontier));
        Assert.StartsWith("sqrt(KL", frontier.Axes.Bottom.Label.Text);
        Assert.Equal("gold reward (LCS score, 0-1)", frontier.Axes.Left.Label.Text);
        // Each variant: its mean path and one marker per seed's last step, at (sqrt(KL), gold).
        var marks = frontier.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Where(s => s.LegendText.Length == 0).ToArray();
        Assert.Equal(3, marks.Length);
        Coordinates[] last = marks[0].Data.GetScatterPoints().ToArray();
        Assert.Equal(2, last.Length);
        Assert.Equal(Math.Sqrt(0.25), last[0].X, 12);
        Assert.Equal(0.7 - 0.05 + 0.01, last[0].Y, 12);
    }

    [Fact]
    public void Build_OneSeedAndMissingMetrics_NoBandAndNoEmptyFigure()
    {
        var steps = Steps(seeds: 1).Select(s => s with { OnPolicyAccuracy = null, FusedShare = null, BtLoss = null, GreLoss = null }).ToList();
        var figures = SandboxPlots.Build(steps);
        Assert.DoesNotContain(figures, f => f.Name is "rm_accuracy" or "fused_share" or "grebt");
        Plot gold = Assert.Single(Figure(figures, "gold").Panels);
        Assert.Empty(gold.GetPlottables().OfType<ScottPlot.Plottables.FillY>());
        Assert.Contains("one seed", gold.Axes.Title.Label.Text);
        Assert.Empty(SandboxPlots.Build([]));
    }

    [Fact]
    public void Styles_TwentyVariants_NoTwoShareColourAndPattern()
    {
        var styles = Enumerable.Range(0, 20).Select(PlotStyles.For).ToArray();
        Assert.Equal(20, styles.Select(s => (s.Color.ToHex(), s.Pattern.Name)).Distinct().Count());
        Assert.Equal(10, styles.Take(10).Select(s => s.Color.ToHex()).Distinct().Count());
    }

    [Fact]
    public void WriteAll_WritesPngOfTheFigureSizeAndSvgWithLabelsAndLegend()
    {
        string dir = Path.Combine(Path.GetTempPath(), "r2m-plots-" + Guid.NewGuid().ToString("N"));
        try
        {
            var figures = SandboxPlots.Build(Steps());
            IReadOnlyList<string> pngs = SandboxPlots.WriteAll(Steps(), dir);
            Assert.Equal(figures.Select(f => f.Name + ".png"), pngs.Select(Path.GetFileName));
            foreach (SandboxFigure f in figures)
            {
                byte[] png = File.ReadAllBytes(Path.Combine(dir, f.Name + ".png"));
                Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
                // IHDR: width and height, big-endian, at bytes 16-23.
                Assert.Equal(f.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)));
                Assert.Equal(f.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
                Assert.True(png.Length > 10_000, $"{f.Name}.png is only {png.Length} bytes");
                Assert.True(File.Exists(Path.Combine(dir, f.Name + ".svg")));
            }
            string[] texts = XDocument.Load(Path.Combine(dir, "gold.svg")).Descendants(Svg + "text").Select(t => t.Value.Trim()).ToArray();
            Assert.Contains("RL step", texts);
            Assert.Contains("gold reward (LCS score, 0-1)", texts);
            Assert.All(Variants, v => Assert.Contains(v, texts));
            string[] proxyTexts = XDocument.Load(Path.Combine(dir, "proxy.svg")).Descendants(Svg + "text").Select(t => t.Value.Trim()).ToArray();
            Assert.Equal(3, proxyTexts.Count(t => t == "RM reward (logits, own scale)"));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
