using System.Numerics.Tensors;

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
/// AdamW over one flat parameter buffer, with both moments in contiguous buffers of the same
/// layout (checkpointed as they are). The step counter is per optimizer, as in PyTorch.
/// </summary>
public sealed class AdamW
{
    public AdamW(int size, AdamWOptions options)
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
        float bc1 = 1f - MathF.Pow(o.Beta1, Step), bc2 = 1f - MathF.Pow(o.Beta2, Step);
        var p = parameters.Slice(offset, count);
        var g = gradients.Slice(offset, count);
        var m = M.AsSpan(offset, count);
        var v = V.AsSpan(offset, count);
        for (int i = 0; i < p.Length; i++)
        {
            m[i] = o.Beta1 * m[i] + (1f - o.Beta1) * g[i];
            v[i] = o.Beta2 * v[i] + (1f - o.Beta2) * g[i] * g[i];
            float mh = m[i] / bc1, vh = v[i] / bc2;
            p[i] -= lr * (mh / (MathF.Sqrt(vh) + o.Epsilon) + o.WeightDecay * p[i]);
        }
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

/// <summary>Global-norm gradient clipping.</summary>
public static class GradClip
{
    /// <summary>Scales gradients so their L2 norm is at most maxNorm (&lt;= 0: no clipping); returns the norm before clipping.</summary>
    public static float ClipGlobalNorm(Span<float> gradients, float maxNorm)
    {
        float norm = TensorPrimitives.Norm(gradients);
        if (!float.IsFinite(norm)) throw new ArgumentException("gradient norm is NaN or Inf", nameof(gradients));
        if (maxNorm > 0f && norm > maxNorm) TensorPrimitives.Multiply(gradients, maxNorm / (norm + 1e-6f), gradients);
        return norm;
    }
}
