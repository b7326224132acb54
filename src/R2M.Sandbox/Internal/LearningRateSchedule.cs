namespace R2M.Sandbox.Internal;

/// <summary>
/// Linear warmup to the peak rate, then cosine decay to 10% of it: the usual schedule for short
/// fine-tuning runs (warmup keeps AdamW's first, badly-estimated second moments from taking big steps).
/// </summary>
internal static class LearningRateSchedule
{
    private const double FloorFraction = 0.1;

    /// <summary>Rate of step <paramref name="step"/> (0-based) of <paramref name="total"/>.</summary>
    public static float At(int step, int total, int warmup, float peak)
    {
        if (warmup > 0 && step < warmup)
        {
            return peak * (step + 1) / warmup;
        }
        int decaySteps = Math.Max(1, total - warmup);
        double progress = Math.Clamp((double)(step - warmup) / decaySteps, 0, 1);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(peak * (FloorFraction + ((1 - FloorFraction) * cosine)));
    }
}
