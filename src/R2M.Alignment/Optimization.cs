namespace R2M.Alignment;

/// <summary>AdamW hyperparameters (Loshchilov and Hutter; PyTorch AdamW semantics: decoupled decay lr*wd*p).</summary>
public sealed record AdamWOptions(float LearningRate = 1e-6f, float Beta1 = 0.9f, float Beta2 = 0.999f, float Epsilon = 1e-8f, float WeightDecay = 0.0f)
{
    public void Validate()
    {
        if (!(LearningRate >= 0f) || !float.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "learning rate must be >= 0");
        if (!(Beta1 >= 0f && Beta1 < 1f)) throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "beta1 must be in [0, 1)");
        if (!(Beta2 >= 0f && Beta2 < 1f)) throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "beta2 must be in [0, 1)");
        if (!(Epsilon > 0f)) throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "epsilon must be > 0");
        if (!(WeightDecay >= 0f)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "weight decay must be >= 0");
    }
}

/// <summary>
/// AdamW state over one flat parameter buffer: both moments in contiguous buffers of the same layout
/// (checkpointed as they are) and the step counter; the update itself is R2M.Tensors.AdamW.Step
/// (torch.optim.AdamW order: decoupled decay first, bias-corrected denominator).
/// </summary>
public sealed class AdamWOptimizer
{
    public AdamWOptimizer(int size, AdamWOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        M = new float[size];
        V = new float[size];
    }

    public AdamWOptions Options { get; }

    /// <summary>First moments (same layout as the parameters).</summary>
    public float[] M { get; }

    /// <summary>Second moments (same layout as the parameters).</summary>
    public float[] V { get; }

    /// <summary>Steps taken (bias correction uses it).</summary>
    public long Step { get; set; }

    /// <summary>
    /// One update of parameters (N) from gradients (N) at learning rate lr, touching only
    /// [offset, offset + count) when given (e.g. phi only). Gradients must be finite.
    /// </summary>
    public void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float lr, int offset = 0, int count = -1)
    {
        if (parameters.Length != M.Length || gradients.Length != M.Length)
            throw new ArgumentException($"optimizer holds {M.Length} moments; got {parameters.Length} parameters and {gradients.Length} gradients");
        if (count < 0) count = M.Length - offset;
        if (offset < 0 || offset + count > M.Length) throw new ArgumentOutOfRangeException(nameof(offset), offset, "update range outside the buffer");
        if (!R2MHead.Finite(gradients.Slice(offset, count))) throw new ArgumentException("gradients contain NaN or Inf; update refused", nameof(gradients));
        Step++;
        var o = Options;
        Tensors.AdamW.Step(parameters.Slice(offset, count), gradients.Slice(offset, count), M.AsSpan(offset, count), V.AsSpan(offset, count),
            checked((int)Step), lr, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
    }

    /// <summary>Takes another optimizer's moments and step (same size), without allocating: re-syncs a scratch copy.</summary>
    public void CopyFrom(AdamWOptimizer source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.M.Length != M.Length) throw new ArgumentException($"optimizer of {source.M.Length} moments cannot be copied into one of {M.Length}", nameof(source));
        source.M.CopyTo(M, 0);
        source.V.CopyTo(V, 0);
        Step = source.Step;
    }

    /// <summary>Fresh state: zero moments, step 0.</summary>
    public void Reset()
    {
        Array.Clear(M);
        Array.Clear(V);
        Step = 0;
    }

    /// <summary>Moments as F32 tensors prefix.m / prefix.v and the step as counter prefix.step.</summary>
    internal void Export(CheckpointState s, string prefix)
    {
        s.Tensors[prefix + ".m"] = (float[])M.Clone();
        s.Tensors[prefix + ".v"] = (float[])V.Clone();
        s.Counters[prefix + ".step"] = [(ulong)Step];
    }

    /// <summary>Validates <see cref="Export"/> output for this size, then returns the action that assigns it.</summary>
    internal Action Import(CheckpointState s, string prefix)
    {
        var m = s.Tensor(prefix + ".m", M.Length);
        var v = s.Tensor(prefix + ".v", V.Length);
        var step = s.Counter(prefix + ".step", 1)[0];
        if (step > int.MaxValue) throw new InvalidDataException($"{s.Source}: counter '{prefix}.step' = {step} is out of range for an optimizer step");
        return () =>
        {
            m.CopyTo(M, 0);
            v.CopyTo(V, 0);
            Step = (long)step;
        };
    }
}

/// <summary>Global-norm clipping where a non-positive limit means "measure only" (the options' documented "&lt;= 0: none").</summary>
internal static class Clipping
{
    /// <summary>Returns the norm of grads before clipping; scales grads to maxNorm when maxNorm &gt; 0 and the norm exceeds it.</summary>
    public static float Apply(Span<float> grads, float maxNorm)
    {
        if (float.IsNaN(maxNorm)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "gradient clip must be a number (<= 0 disables clipping)");
        return maxNorm > 0f ? Tensors.GradClip.ClipByGlobalNorm(grads, maxNorm) : Tensors.GradClip.GlobalNorm(grads);
    }
}

/// <summary>Learning-rate schedule shape.</summary>
public enum LrScheduleKind { Constant, Linear, Cosine }

/// <summary>Linear warmup, then constant / linear decay to 0 / cosine decay to 0 (HF get_*_schedule_with_warmup).</summary>
public sealed record LrSchedule(LrScheduleKind Kind = LrScheduleKind.Constant, int WarmupSteps = 0, int TotalSteps = 1)
{
    /// <summary>Learning rate at optimizer step <paramref name="step"/> (0-based).</summary>
    public float At(float baseLr, long step)
    {
        if (TotalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(TotalSteps), TotalSteps, "total steps must be positive");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "warmup must be >= 0");
        if (step < WarmupSteps) return baseLr * (step + 1) / (WarmupSteps + 1);
        double progress = Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps), 0, 1);
        return Kind switch
        {
            LrScheduleKind.Linear => (float)(baseLr * (1 - progress)),
            LrScheduleKind.Cosine => (float)(baseLr * 0.5 * (1 + Math.Cos(Math.PI * progress))),
            _ => baseLr,
        };
    }
}
