using ScottPlot;

namespace R2M.Sandbox.Internal;

/// <summary>Colour, line pattern and marker of one variant: the same in every figure of one call.</summary>
internal sealed record VariantStyle(Color Color, LinePattern Pattern, MarkerShape Marker);

/// <summary>
/// Per-variant styles that stay distinct for up to 20 variants: ten colours (Okabe and Ito's
/// colour-blind-safe set without its pale yellow, plus three of Tol's "muted" colours) crossed with
/// four line patterns, so two variants never share both (i mod 10, i mod 4) below 20. Markers
/// (five shapes) tell the variants apart where lines are too short to show a pattern.
/// </summary>
internal static class PlotStyles
{
    private static readonly string[] Palette =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255", "#44AA99", "#999933"];

    private static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    private static readonly MarkerShape[] Markers =
        [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond, MarkerShape.FilledTriangleDown];

    /// <summary>Font every figure uses; scripts/setup.sh installs it (fonts-dejavu-core) and fontconfig finds it.</summary>
    public const string FontName = "DejaVu Sans";

    public static VariantStyle For(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new VariantStyle(Color.FromHex(Palette[index % Palette.Length]), Patterns[index % Patterns.Length], Markers[index % Markers.Length]);
    }

    /// <summary>Styles keyed by variant name, in the order given.</summary>
    public static IReadOnlyDictionary<string, VariantStyle> ForVariants(IReadOnlyList<string> variants) =>
        variants.Select((v, i) => (v, i)).ToDictionary(x => x.v, x => For(x.i));
}
