namespace R2M.Sandbox.Internal;

/// <summary>Per-step training losses of one run, with smoothed start and end values for the report.</summary>
internal sealed class TrainingCurve(float[] losses)
{
    public IReadOnlyList<float> Losses => losses;

    /// <summary>Mean loss of the first tenth of the steps (at least one step); NaN when no step ran.</summary>
    public double Start => Window(fromEnd: false);

    /// <summary>Mean loss of the last tenth of the steps (at least one step); NaN when no step ran.</summary>
    public double End => Window(fromEnd: true);

    private double Window(bool fromEnd)
    {
        if (losses.Length == 0)
        {
            return double.NaN;
        }
        int n = Math.Max(1, losses.Length / 10);
        var span = fromEnd ? losses.AsSpan(losses.Length - n) : losses.AsSpan(0, n);
        double sum = 0;
        foreach (float x in span)
        {
            sum += x;
        }
        return sum / n;
    }
}
