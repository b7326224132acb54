using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// HF rope_scaling (docs/specs.md section 3). Type "linear" divides inv_freq by Factor; "llama3" uses
/// Factor, LowFreqFactor, HighFreqFactor and OriginalMaxPositionEmbeddings; "default" is no scaling.
/// </summary>
public sealed record RopeScaling(string Type, float Factor, float LowFreqFactor = 1f, float HighFreqFactor = 4f,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>
/// Rotary position embedding with the rotate_half convention (halves, not interleaved pairs) applied
/// to the first r = rotaryDims dims of every head; the remaining head dims pass through (GPT-NeoX
/// partial rotary). For j &lt; r/2, with angle = pos * invFreq[j]:
/// out[j] = x[j] cos - x[j+r/2] sin, out[j+r/2] = x[j+r/2] cos + x[j] sin.
/// The angle is formed in float32 like HF (inv_freq @ position_ids in fp32) before cos/sin.
/// </summary>
public static unsafe class Rotary
{
    /// <summary>
    /// inv_freq (r/2): base^(-2i/r), computed as HF does (exponent 2i/r in fp32), then rope scaling.
    /// </summary>
    public static float[] InverseFrequencies(int rotaryDims, double theta, RopeScaling? scaling = null)
    {
        if (rotaryDims <= 0 || rotaryDims % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rotaryDims), rotaryDims, "rotaryDims must be a positive even number");
        }
        if (!(theta > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope theta must be > 0");
        }
        var inv = new float[rotaryDims / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float exponent = (float)(2 * i) / rotaryDims;
            inv[i] = 1f / (float)Math.Pow(theta, exponent);
        }
        if (scaling is not null)
        {
            ApplyScaling(inv, scaling);
        }
        return inv;
    }

    private static void ApplyScaling(float[] inv, RopeScaling s)
    {
        switch (s.Type)
        {
            case "default":
                return;
            case "linear":
                CheckFactor(s);
                for (int i = 0; i < inv.Length; i++)
                {
                    inv[i] /= s.Factor;
                }
                return;
            case "llama3":
                CheckFactor(s);
                if (!(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0)
                {
                    throw new ArgumentException($"llama3 rope_scaling needs high_freq_factor > low_freq_factor and original_max_position_embeddings > 0 (got {s})", nameof(s));
                }
                double oldCtx = s.OriginalMaxPositionEmbeddings;
                double lowWavelen = oldCtx / s.LowFreqFactor, highWavelen = oldCtx / s.HighFreqFactor;
                for (int i = 0; i < inv.Length; i++)
                {
                    double f = inv[i], wavelen = 2 * Math.PI / f;
                    if (wavelen > lowWavelen)
                    {
                        inv[i] = (float)(f / s.Factor);
                    }
                    else if (wavelen >= highWavelen)
                    {
                        double smooth = (oldCtx / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                        inv[i] = (float)((1 - smooth) * f / s.Factor + smooth * f);
                    }
                }
                return;
            default:
                throw new NotSupportedException($"rope_scaling type '{s.Type}' is not supported (supported: default, linear, llama3)");
        }
    }

    private static void CheckFactor(RopeScaling s)
    {
        if (!(s.Factor > 0))
        {
            throw new ArgumentException($"rope_scaling factor must be > 0 (got {s.Factor})", nameof(s));
        }
    }

    /// <summary>
    /// output (N,nHeads,headDim) = rope(input (N,nHeads,headDim)) with positions (N) (N = B*T rows)
    /// and invFreq (rotaryDims/2). output may alias input (in-place rotation).
    /// </summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFreq, int rows, int nHeads, int headDim, int rotaryDims)
    {
        Validate(output.Length, nameof(output), input.Length, nameof(input), positions, invFreq, rows, nHeads, headDim, rotaryDims);
        Apply(output, input, positions, invFreq, rows, nHeads, headDim, rotaryDims, 1f, accumulate: false);
    }

    /// <summary>
    /// dinput (N,nHeads,headDim) += R^T doutput: the rotation is orthogonal, so the backward is the
    /// rotation by -angle; the pass-through dims are copied-added unchanged.
    /// </summary>
    public static void Backward(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFreq, int rows, int nHeads, int headDim, int rotaryDims)
    {
        Validate(dinput.Length, nameof(dinput), doutput.Length, nameof(doutput), positions, invFreq, rows, nHeads, headDim, rotaryDims);
        Apply(dinput, doutput, positions, invFreq, rows, nHeads, headDim, rotaryDims, -1f, accumulate: true);
    }

    private static void Validate(int outLen, string outName, int inLen, string inName, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFreq, int rows, int nHeads, int headDim, int rotaryDims)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(nHeads, nameof(nHeads));
        Check.Dims(headDim, nameof(headDim));
        if (rotaryDims < 0 || rotaryDims > headDim || rotaryDims % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rotaryDims), rotaryDims, $"rotaryDims must be even and in [0, headDim={headDim}]");
        }
        long total = (long)rows * nHeads * headDim;
        Check.Len(outLen, total, outName, "(N,nHeads,headDim)");
        Check.Len(inLen, total, inName, "(N,nHeads,headDim)");
        Check.Len(positions.Length, rows, nameof(positions), "(N)");
        Check.Len(invFreq.Length, rotaryDims / 2, nameof(invFreq), "(rotaryDims/2)");
    }

    private static void Apply(Span<float> dst, ReadOnlySpan<float> src, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFreq, int rows, int nHeads, int headDim, int rotaryDims, float sinSign, bool accumulate)
    {
        int half = rotaryDims / 2;
        fixed (float* pd = dst, ps = src, pf = invFreq)
        fixed (int* pp = positions)
        {
            nint d = (nint)pd, s = (nint)ps, f = (nint)pf, p = (nint)pp;
            Par.For(rows, (long)nHeads * headDim * 4, (r0, r1) =>
            {
                Span<float> cos = stackalloc float[half];
                Span<float> sin = stackalloc float[half];
                for (int n = r0; n < r1; n++)
                {
                    float pos = ((int*)p)[n];
                    for (int j = 0; j < half; j++)
                    {
                        float angle = pos * ((float*)f)[j];
                        cos[j] = MathF.Cos(angle);
                        sin[j] = sinSign * MathF.Sin(angle);
                    }
                    for (int h = 0; h < nHeads; h++)
                    {
                        long off = ((long)n * nHeads + h) * headDim;
                        RotateHead((float*)d + off, (float*)s + off, cos, sin, half, headDim, accumulate);
                    }
                }
            });
        }
    }

    private static void RotateHead(float* dst, float* src, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin,
        int half, int headDim, bool accumulate)
    {
        for (int j = 0; j < half; j++)
        {
            float x1 = src[j], x2 = src[j + half];
            float y1 = x1 * cos[j] - x2 * sin[j];
            float y2 = x2 * cos[j] + x1 * sin[j];
            if (accumulate)
            {
                dst[j] += y1;
                dst[j + half] += y2;
            }
            else
            {
                dst[j] = y1;
                dst[j + half] = y2;
            }
        }
        for (int j = 2 * half; j < headDim; j++)
        {
            dst[j] = accumulate ? dst[j] + src[j] : src[j];
        }
    }
}
