namespace R2M.Sandbox.Internal;

/// <summary>Per-step training losses of one run, with smoothed start and end values for the report.</summary>
internal sealed class TrainingCurve(float[] losses)
{
    public IReadOnlyList<float> Losses => losses;

    /// <summary>
    /// The sandbox's one minibatch loop (shared by SFT and Bradley-Terry): <paramref name="steps"/> steps, each on
    /// <paramref name="batchSize"/> rows drawn epoch by epoch in an order from sub-stream <paramref name="orderStream"/>
    /// of the seed, at the warmup-then-cosine rate peaking at <paramref name="peakLr"/>. <paramref name="step"/>
    /// (rows, lr) updates the model and returns the batch loss.
    /// </summary>
    public static TrainingCurve Run<T>(T[] rows, int steps, int batchSize, float peakLr, ulong orderStream,
        SandboxModelOptions o, Func<T[], float, float> step, Action<int, float>? onStep, CancellationToken ct)
    {
        var sampler = new EpochSampler(rows.Length, SandboxRandom.Derive(o.Seed, orderStream));
        var result = new float[steps];
        for (int i = 0; i < steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            var batch = sampler.NextBatch(batchSize).Select(j => rows[j]).ToArray();
            result[i] = step(batch, LearningRateSchedule.At(i, steps, o.WarmupSteps, peakLr));
            onStep?.Invoke(i, result[i]);
        }
        return new TrainingCurve(result);
    }

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
