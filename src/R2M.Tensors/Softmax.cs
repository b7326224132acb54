using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// Row softmax, numerically stable: exp(x - max) / sum. We do not rely on TensorPrimitives.SoftMax
/// (its max subtraction is an implementation detail). A row whose entries are all -inf (fully
/// masked) yields all zeros instead of NaN.
/// </summary>
public static unsafe class Softmax
{
    /// <summary>probs (N,V) = softmax(logits (N,V)) per row; probs may alias logits.</summary>
    public static void Forward(Span<float> probs, ReadOnlySpan<float> logits, int rows, int cols)
    {
        CheckRows(probs.Length, nameof(probs), logits.Length, nameof(logits), rows, cols);
        fixed (float* po = probs, pi = logits)
        {
            nint o = (nint)po, x = (nint)pi;
            Par.For(rows, cols * 4L, (r0, r1) =>
            {
                for (int n = r0; n < r1; n++)
                {
                    Row(new ReadOnlySpan<float>((float*)x + (long)n * cols, cols), new Span<float>((float*)o + (long)n * cols, cols));
                }
            });
        }
    }

    /// <summary>dlogits (N,V) += p * (dp - sum(dp * p)); dprobs (N,V); probs (N,V) from Forward.</summary>
    public static void Backward(Span<float> dlogits, ReadOnlySpan<float> dprobs, ReadOnlySpan<float> probs, int rows, int cols)
    {
        CheckRows(dlogits.Length, nameof(dlogits), dprobs.Length, nameof(dprobs), rows, cols);
        Check.Len(probs.Length, (long)rows * cols, nameof(probs), "(N,V)");
        fixed (float* pdx = dlogits, pdy = dprobs, pp = probs)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, p = (nint)pp;
            Par.For(rows, cols * 4L, (r0, r1) =>
            {
                for (int n = r0; n < r1; n++)
                {
                    long off = (long)n * cols;
                    RowBackward(new Span<float>((float*)dx + off, cols), new ReadOnlySpan<float>((float*)dy + off, cols),
                        new ReadOnlySpan<float>((float*)p + off, cols));
                }
            });
        }
    }

    /// <summary>Stable softmax of one row; dest may alias x. All -inf (or empty) gives zeros.</summary>
    internal static void Row(ReadOnlySpan<float> x, Span<float> dest)
    {
        if (x.Length == 0)
        {
            return;
        }
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max))
        {
            dest[..x.Length].Clear();
            return;
        }
        TensorPrimitives.Subtract(x, max, dest);
        TensorPrimitives.Exp(dest, dest);
        float sum = TensorPrimitives.Sum(dest[..x.Length]);
        TensorPrimitives.Multiply(dest[..x.Length], 1f / sum, dest);
    }

    /// <summary>dx += p * (dy - dot(dy, p)) for one row.</summary>
    internal static void RowBackward(Span<float> dx, ReadOnlySpan<float> dy, ReadOnlySpan<float> p)
    {
        float dot = TensorPrimitives.Dot(dy, p);
        for (int j = 0; j < p.Length; j++)
        {
            dx[j] += p[j] * (dy[j] - dot);
        }
    }

    internal static void CheckRows(int outLen, string outName, int inLen, string inName, int rows, int cols)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(cols, nameof(cols));
        Check.Len(outLen, (long)rows * cols, outName, "(N,V)");
        Check.Len(inLen, (long)rows * cols, inName, "(N,V)");
    }
}

/// <summary>Row log-softmax: y = x - max - log(sum exp(x - max)).</summary>
public static unsafe class LogSoftmax
{
    /// <summary>output (N,V) = log_softmax(logits (N,V)); output may alias logits.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> logits, int rows, int cols)
    {
        Softmax.CheckRows(output.Length, nameof(output), logits.Length, nameof(logits), rows, cols);
        fixed (float* po = output, pi = logits)
        {
            nint o = (nint)po, x = (nint)pi;
            Par.For(rows, cols * 4L, (r0, r1) =>
            {
                var tmp = new float[cols];
                for (int n = r0; n < r1; n++)
                {
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * cols, cols);
                    float lse = LogSumExp(xr, tmp);
                    TensorPrimitives.Subtract(xr, lse, new Span<float>((float*)o + (long)n * cols, cols));
                }
            });
        }
    }

    /// <summary>dlogits (N,V) += dy - exp(y) * sum(dy); doutput (N,V); output (N,V) from Forward.</summary>
    public static void Backward(Span<float> dlogits, ReadOnlySpan<float> doutput, ReadOnlySpan<float> output, int rows, int cols)
    {
        Softmax.CheckRows(dlogits.Length, nameof(dlogits), doutput.Length, nameof(doutput), rows, cols);
        Check.Len(output.Length, (long)rows * cols, nameof(output), "(N,V)");
        fixed (float* pdx = dlogits, pdy = doutput, py = output)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, y = (nint)py;
            Par.For(rows, cols * 4L, (r0, r1) =>
            {
                var p = new float[cols];
                for (int n = r0; n < r1; n++)
                {
                    long off = (long)n * cols;
                    var dyr = new ReadOnlySpan<float>((float*)dy + off, cols);
                    var dxr = new Span<float>((float*)dx + off, cols);
                    TensorPrimitives.Exp(new ReadOnlySpan<float>((float*)y + off, cols), p);
                    float sum = TensorPrimitives.Sum(dyr);
                    TensorPrimitives.Add(dxr, dyr, dxr);
                    TensorPrimitives.MultiplyAdd(p, -sum, dxr, dxr);
                }
            });
        }
    }

    /// <summary>log(sum(exp(x))) computed stably; scratch holds at least x.Length floats. -inf if all -inf.</summary>
    internal static float LogSumExp(ReadOnlySpan<float> x, Span<float> scratch)
    {
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max))
        {
            return max;
        }
        var s = scratch[..x.Length];
        TensorPrimitives.Subtract(x, max, s);
        TensorPrimitives.Exp(s, s);
        return max + MathF.Log(TensorPrimitives.Sum(s));
    }
}

/// <summary>
/// Cross-entropy pieces for LM training and RL: per-token log-probabilities of target ids at a
/// sampling temperature tau, logprob[n] = logits[n, target[n]] / tau - logsumexp(logits[n, :] / tau)
/// (TRL divides the logits by the sampling temperature before log_softmax, docs/method.md section 8).
/// A negative target (e.g. -100 as in PyTorch's ignore_index) marks an ignored position: its
/// logprob is 0 and it gets no gradient.
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>
    /// logprobs (N) = log softmax(logits (N,V))[target]; lse (N) saved for Backward (empty to skip);
    /// targets (N) in [0,V) or negative to ignore.
    /// </summary>
    public static void Forward(Span<float> logprobs, Span<float> lse, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets,
        int rows, int vocab) => Forward(logprobs, lse, logits, targets, rows, vocab, 1f);

    /// <summary>
    /// logprobs (N) = log softmax(logits (N,V) / temperature)[target]; lse (N) = logsumexp(logits / temperature)
    /// saved for Backward (empty to skip); targets (N) in [0,V) or negative to ignore.
    /// </summary>
    public static void Forward(Span<float> logprobs, Span<float> lse, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets,
        int rows, int vocab, float temperature)
    {
        CheckArgs(logprobs.Length, nameof(logprobs), logits, targets, rows, vocab, temperature);
        Check.LenOpt(lse.Length, rows, nameof(lse), "(N)");
        bool save = lse.Length > 0;
        fixed (float* plp = logprobs, pl = lse, px = logits)
        fixed (int* pt = targets)
        {
            nint lp = (nint)plp, l = (nint)pl, x = (nint)px, t = (nint)pt;
            Par.For(rows, vocab * 4L, (r0, r1) =>
            {
                var tmp = new float[vocab];
                for (int n = r0; n < r1; n++)
                {
                    int target = ((int*)t)[n];
                    if (target < 0 && !save)
                    {
                        ((float*)lp)[n] = 0f;
                        continue;
                    }
                    var xr = new ReadOnlySpan<float>((float*)x + (long)n * vocab, vocab);
                    float z = ScaledLogSumExp(xr, temperature, tmp);
                    ((float*)lp)[n] = target < 0 ? 0f : Scale(xr[target], temperature) - z;
                    if (save)
                    {
                        ((float*)l)[n] = z;
                    }
                }
            });
        }
    }

    /// <summary>
    /// dlogits (N,V) += dlogprobs[n] * (onehot(target) - softmax(logits)); dlogprobs (N); logits (N,V);
    /// lse (N) from Forward; targets (N). Ignored rows (target &lt; 0) are left untouched.
    /// </summary>
    public static void Backward(Span<float> dlogits, ReadOnlySpan<float> dlogprobs, ReadOnlySpan<float> logits,
        ReadOnlySpan<float> lse, ReadOnlySpan<int> targets, int rows, int vocab) =>
        Backward(dlogits, dlogprobs, logits, lse, targets, rows, vocab, 1f);

    /// <summary>
    /// dlogits (N,V) += dlogprobs[n] / tau * (onehot(target) - softmax(logits / tau)); dlogprobs (N);
    /// logits (N,V); lse (N) from the Forward at the same temperature; targets (N).
    /// </summary>
    public static void Backward(Span<float> dlogits, ReadOnlySpan<float> dlogprobs, ReadOnlySpan<float> logits,
        ReadOnlySpan<float> lse, ReadOnlySpan<int> targets, int rows, int vocab, float temperature)
    {
        CheckArgs(dlogits.Length, nameof(dlogits), logits, targets, rows, vocab, temperature);
        Check.Len(dlogprobs.Length, rows, nameof(dlogprobs), "(N)");
        Check.Len(lse.Length, rows, nameof(lse), "(N)");
        fixed (float* pdx = dlogits, pdy = dlogprobs, px = logits, pl = lse)
        fixed (int* pt = targets)
        {
            nint dx = (nint)pdx, dy = (nint)pdy, x = (nint)px, l = (nint)pl, t = (nint)pt;
            Par.For(rows, vocab * 4L, (r0, r1) =>
            {
                var p = new float[vocab];
                for (int n = r0; n < r1; n++)
                {
                    int target = ((int*)t)[n];
                    float g = ((float*)dy)[n];
                    if (target < 0 || g == 0f)
                    {
                        continue;
                    }
                    long off = (long)n * vocab;
                    var dxr = new Span<float>((float*)dx + off, vocab);
                    ScaleRow(new ReadOnlySpan<float>((float*)x + off, vocab), temperature, p);
                    TensorPrimitives.Subtract(p, ((float*)l)[n], p);
                    TensorPrimitives.Exp(p, p);
                    float gt = temperature == 1f ? g : g / temperature;
                    TensorPrimitives.MultiplyAdd(p, -gt, dxr, dxr);
                    dxr[target] += gt;
                }
            });
        }
    }

    /// <summary>x / temperature exactly as PyTorch's division (no reciprocal when temperature is 1).</summary>
    private static float Scale(float x, float temperature) => temperature == 1f ? x : x / temperature;

    private static void ScaleRow(ReadOnlySpan<float> x, float temperature, Span<float> dest)
    {
        if (temperature == 1f)
        {
            x.CopyTo(dest);
        }
        else
        {
            TensorPrimitives.Divide(x, temperature, dest);
        }
    }

    /// <summary>logsumexp(x / temperature); scratch (V).</summary>
    private static float ScaledLogSumExp(ReadOnlySpan<float> x, float temperature, Span<float> scratch)
    {
        if (temperature == 1f)
        {
            return LogSoftmax.LogSumExp(x, scratch);
        }
        ScaleRow(x, temperature, scratch);
        return LogSoftmax.LogSumExp(scratch[..x.Length], scratch);
    }

    /// <summary>Mean negative log-likelihood over non-ignored rows of Forward's logprobs (N); 0 if none.</summary>
    public static float MeanLoss(ReadOnlySpan<float> logprobs, ReadOnlySpan<int> targets)
    {
        Check.Len(targets.Length, logprobs.Length, nameof(targets), "(N)");
        double sum = 0;
        int count = 0;
        for (int n = 0; n < logprobs.Length; n++)
        {
            if (targets[n] >= 0)
            {
                sum -= logprobs[n];
                count++;
            }
        }
        return count == 0 ? 0f : (float)(sum / count);
    }

    private static void CheckArgs(int outLen, string outName, ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int rows, int vocab,
        float temperature)
    {
        if (!(temperature > 0) || float.IsInfinity(temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be a positive finite number");
        }
        Check.Dims(rows, nameof(rows));
        Check.Dims(vocab, nameof(vocab));
        Check.Len(outLen, outName == "dlogits" ? (long)rows * vocab : rows, outName, outName == "dlogits" ? "(N,V)" : "(N)");
        Check.Len(logits.Length, (long)rows * vocab, nameof(logits), "(N,V)");
        Check.Len(targets.Length, rows, nameof(targets), "(N)");
        for (int n = 0; n < rows; n++)
        {
            if (targets[n] >= vocab)
            {
                throw new ArgumentException($"targets[{n}] = {targets[n]} is outside the vocabulary [0, {vocab})", nameof(targets));
            }
        }
    }
}
