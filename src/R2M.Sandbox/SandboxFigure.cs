using ScottPlot;
using SkiaSharp;

namespace R2M.Sandbox;

/// <summary>
/// One figure of <see cref="SandboxPlots"/>: one or more ScottPlot panels laid out in a grid,
/// saved as PNG and SVG. The panels can be inspected before saving (series, labels, legend).
/// </summary>
public sealed class SandboxFigure
{
    private readonly Multiplot _multiplot = new();

    internal SandboxFigure(string name, IReadOnlyList<Plot> panels, int columns, int panelWidth, int panelHeight)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (panels.Count == 0) throw new ArgumentException($"figure '{name}' has no panels", nameof(panels));
        Name = name;
        Panels = panels;
        Columns = Math.Clamp(columns, 1, panels.Count);
        Rows = (panels.Count + Columns - 1) / Columns;
        Width = Columns * panelWidth;
        Height = Rows * panelHeight;
        _multiplot.Subplots.Remove(_multiplot.Subplots.GetPlot(0)); // a new Multiplot starts with one empty plot
        foreach (Plot p in panels) _multiplot.Subplots.Add(p);
        _multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(Rows, Columns);
    }

    /// <summary>File name without extension, e.g. "gold".</summary>
    public string Name { get; }

    /// <summary>The panels, row by row.</summary>
    public IReadOnlyList<Plot> Panels { get; }

    public int Rows { get; }
    public int Columns { get; }

    /// <summary>Size of the saved image in pixels.</summary>
    public int Width { get; }
    public int Height { get; }

    /// <summary>Writes <c>Name.png</c> and <c>Name.svg</c> into <paramref name="directory"/> (created if missing) and returns both paths.</summary>
    public (string Png, string Svg) Save(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        string png = Path.Combine(directory, Name + ".png");
        string svg = Path.Combine(directory, Name + ".svg");
        _multiplot.SavePng(png, Width, Height);
        SaveSvg(svg);
        return (png, svg);
    }

    /// <summary>
    /// ScottPlot saves a Multiplot only as a bitmap; SkiaSharp's SVG canvas takes the same drawing
    /// calls. That canvas cannot draw dash effects (Skia prints "Unsupported path effect" and draws
    /// nothing special), so the SVG is drawn with solid lines: variants differ there by colour only,
    /// which stays unambiguous up to ten variants. The PNG keeps the patterns.
    /// </summary>
    private void SaveSvg(string path)
    {
        var patterned = Panels.SelectMany(p => p.GetPlottables().OfType<ScottPlot.Plottables.Scatter>())
            .Where(s => s.LinePattern.Name != LinePattern.Solid.Name)
            .Select(s => (Scatter: s, Pattern: s.LinePattern))
            .ToArray();
        try
        {
            foreach (var (scatter, _) in patterned) scatter.LinePattern = LinePattern.Solid;
            using var stream = new SKFileWStream(path);
            using var canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), stream);
            _multiplot.Render(canvas, new PixelRect(0, Width, Height, 0));
        }
        finally
        {
            foreach (var (scatter, pattern) in patterned) scatter.LinePattern = pattern;
        }
    }
}
