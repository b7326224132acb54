using System.Globalization;
using System.Security;
using System.Text;

namespace R2M.Sandbox;

/// <summary>One named line of a plot. Non-finite y values break the line (a gap), never plot as 0.</summary>
public sealed record PlotSeries(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>
/// A line chart written as standalone SVG 1.1 (no packages are available for plotting): title,
/// axes with "nice" ticks (1, 2, 5 x 10^k), grid, one polyline per series with its own colour,
/// and a legend. Used for reward, gold reward, KL, GREBT losses and SEAM over steps.
/// </summary>
public sealed class SvgLinePlot
{
    // Colour-blind-safe palette (Okabe & Ito, "Color Universal Design", 2008).
    private static readonly string[] Palette =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

    private const double Left = 70, Right = 180, Top = 40, Bottom = 55;

    public SvgLinePlot(string title, string xLabel, string yLabel)
    {
        Title = title ?? throw new ArgumentNullException(nameof(title));
        XLabel = xLabel ?? throw new ArgumentNullException(nameof(xLabel));
        YLabel = yLabel ?? throw new ArgumentNullException(nameof(yLabel));
    }

    public string Title { get; }
    public string XLabel { get; }
    public string YLabel { get; }
    public int Width { get; init; } = 720;
    public int Height { get; init; } = 420;
    public List<PlotSeries> Series { get; } = [];

    public SvgLinePlot Add(string name, IEnumerable<(double X, double Y)> points)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(points);
        Series.Add(new PlotSeries(name, points.ToArray()));
        return this;
    }

    /// <summary>Writes the SVG to <paramref name="path"/> (creating its folder).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }
        File.WriteAllText(path, Render(), new UTF8Encoding(false));
    }

    /// <summary>The SVG document text.</summary>
    public string Render()
    {
        if (Width < Left + Right + 50 || Height < Top + Bottom + 50)
        {
            throw new InvalidOperationException($"plot '{Title}' is too small ({Width}x{Height}) to draw");
        }
        (double x0, double x1) = Range(p => p.X);
        (double y0, double y1) = Range(p => p.Y);
        double[] xTicks = NiceTicks(ref x0, ref x1);
        double[] yTicks = NiceTicks(ref y0, ref y1);
        var frame = new Frame(Left, Top, Width - Left - Right, Height - Top - Bottom, x0, x1, y0, y1);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"title\" x=\"{Width / 2.0}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{Escape(Title)}</text>\n");
        AppendAxes(svg, frame, xTicks, yTicks);
        for (int i = 0; i < Series.Count; i++)
        {
            AppendSeries(svg, frame, Series[i], Palette[i % Palette.Length], i);
        }
        AppendLegend(svg, frame);
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>
    /// Ticks at 1, 2 or 5 x 10^k covering [lo, hi] with about five intervals; widens the range
    /// to the outer ticks. A degenerate range (one value, or no data) is widened first.
    /// </summary>
    internal static double[] NiceTicks(ref double lo, ref double hi)
    {
        if (!(hi > lo))
        {
            double pad = lo == 0 ? 1 : Math.Abs(lo) * 0.1;
            lo -= pad;
            hi += pad;
        }
        double raw = (hi - lo) / 5;
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = magnitude * (raw / magnitude <= 1 ? 1 : raw / magnitude <= 2 ? 2 : raw / magnitude <= 5 ? 5 : 10);
        double first = Math.Floor(lo / step) * step;
        double last = Math.Ceiling(hi / step) * step;
        int count = (int)Math.Round((last - first) / step) + 1;
        var ticks = new double[count];
        for (int i = 0; i < count; i++)
        {
            // Round away binary noise such as 0.30000000000000004.
            ticks[i] = Math.Round(first + i * step, 12);
        }
        lo = ticks[0];
        hi = ticks[^1];
        return ticks;
    }

    private (double Lo, double Hi) Range(Func<(double X, double Y), double> coordinate)
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach ((double X, double Y) p in Series.SelectMany(s => s.Points))
        {
            if (double.IsFinite(p.X) && double.IsFinite(p.Y))
            {
                double v = coordinate(p);
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
        }
        return double.IsFinite(lo) ? (lo, hi) : (0, 1);
    }

    private static void AppendAxes(StringBuilder svg, Frame f, double[] xTicks, double[] yTicks)
    {
        svg.Append("<g class=\"axes\" stroke=\"#333\" stroke-width=\"1\">\n");
        foreach (double t in yTicks)
        {
            double y = f.Y(t);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{f.Left:0.##}\" y1=\"{y:0.##}\" x2=\"{f.Left + f.Width:0.##}\" y2=\"{y:0.##}\" stroke=\"#ddd\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{f.Left - 6:0.##}\" y=\"{y + 4:0.##}\" text-anchor=\"end\" stroke=\"none\">{Format(t)}</text>\n");
        }
        foreach (double t in xTicks)
        {
            double x = f.X(t);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.##}\" y1=\"{f.Top + f.Height:0.##}\" x2=\"{x:0.##}\" y2=\"{f.Top + f.Height + 5:0.##}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.##}\" y=\"{f.Top + f.Height + 18:0.##}\" text-anchor=\"middle\" stroke=\"none\">{Format(t)}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{f.Left:0.##}\" y=\"{f.Top:0.##}\" width=\"{f.Width:0.##}\" height=\"{f.Height:0.##}\" fill=\"none\"/>\n");
        svg.Append("</g>\n");
    }

    private void AppendSeries(StringBuilder svg, Frame f, PlotSeries series, string colour, int index)
    {
        svg.Append(CultureInfo.InvariantCulture, $"<g class=\"series\" data-name=\"{Escape(series.Name)}\" data-index=\"{index}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\">\n");
        var run = new List<string>();
        foreach ((double x, double y) in series.Points.OrderBy(p => p.X))
        {
            if (double.IsFinite(x) && double.IsFinite(y))
            {
                run.Add(string.Create(CultureInfo.InvariantCulture, $"{f.X(x):0.##},{f.Y(y):0.##}"));
            }
            else
            {
                FlushRun(svg, run);
            }
        }
        FlushRun(svg, run);
        svg.Append("</g>\n");
    }

    // A run of one point is drawn as a dot so it stays visible.
    private static void FlushRun(StringBuilder svg, List<string> run)
    {
        if (run.Count == 1)
        {
            string[] xy = run[0].Split(',');
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{xy[0]}\" cy=\"{xy[1]}\" r=\"2.5\"/>\n");
        }
        else if (run.Count > 1)
        {
            svg.Append("<polyline points=\"").AppendJoin(' ', run).Append("\"/>\n");
        }
        run.Clear();
    }

    private void AppendLegend(StringBuilder svg, Frame f)
    {
        double x = f.Left + f.Width + 15;
        svg.Append("<g class=\"legend\">\n");
        for (int i = 0; i < Series.Count; i++)
        {
            double y = f.Top + 10 + i * 20;
            string colour = Palette[i % Palette.Length];
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.##}\" y1=\"{y:0.##}\" x2=\"{x + 22:0.##}\" y2=\"{y:0.##}\" stroke=\"{colour}\" stroke-width=\"2\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 28:0.##}\" y=\"{y + 4:0.##}\">{Escape(Series[i].Name)}</text>\n");
        }
        svg.Append("</g>\n");
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"xlabel\" x=\"{f.Left + f.Width / 2:0.##}\" y=\"{Height - 12}\" text-anchor=\"middle\">{Escape(XLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture,
            $"<text class=\"ylabel\" x=\"18\" y=\"{f.Top + f.Height / 2:0.##}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {f.Top + f.Height / 2:0.##})\">{Escape(YLabel)}</text>\n");
    }

    private static string Format(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private readonly record struct Frame(double Left, double Top, double Width, double Height, double X0, double X1, double Y0, double Y1)
    {
        public double X(double x) => Left + (x - X0) / (X1 - X0) * Width;

        public double Y(double y) => Top + Height - (y - Y0) / (Y1 - Y0) * Height;
    }
}
