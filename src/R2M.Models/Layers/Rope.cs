namespace R2M.Models.Layers;

/// <summary>
/// Rotary position embedding on the first <see cref="Dims"/> dims of a head, rotate-half convention
/// (REFERENCE.md section 3, GPT-NeoX): for j &lt; r/2, out[j] = x[j] cos - x[j+r/2] sin,
/// out[j+r/2] = x[j+r/2] cos + x[j] sin, theta = pos * inv_freq[j]. Backward rotates by -theta.
/// inv_freq follows modeling_rope_utils.py (default, linear, llama3), in fp32 as HF computes it.
/// </summary>
internal sealed class Rope
{
    private readonly float[] _invFreq;

    public Rope(int dims, double theta, RopeScaling? scaling)
    {
        Dims = dims;
        _invFreq = new float[dims / 2];
        for (var i = 0; i < dims / 2; i++)
            _invFreq[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / dims));
        if (scaling is { Type: "linear" })
        {
            for (var i = 0; i < _invFreq.Length; i++)
                _invFreq[i] = (float)(_invFreq[i] / scaling.Factor);
        }
        else if (scaling is { Type: "llama3" })
        {
            ApplyLlama3(scaling);
        }
    }

    /// <summary>Rotary dims r (even); 0 disables rotation.</summary>
    public int Dims { get; }

    private void ApplyLlama3(RopeScaling s)
    {
        double oldCtx = s.OriginalMaxPositionEmbeddings;
        var lowWavelen = oldCtx / s.LowFreqFactor;
        var highWavelen = oldCtx / s.HighFreqFactor;
        for (var i = 0; i < _invFreq.Length; i++)
        {
            double f = _invFreq[i];
            var wavelen = 2 * Math.PI / f;
            if (wavelen > lowWavelen)
            {
                f /= s.Factor;
            }
            else if (wavelen >= highWavelen)
            {
                var smooth = (oldCtx / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                f = (1 - smooth) * f / s.Factor + smooth * f;
            }
            _invFreq[i] = (float)f;
        }
    }

    /// <summary>cos and sin of pos * inv_freq; cos, sin (r/2).</summary>
    public void Angles(int pos, Span<float> cos, Span<float> sin)
    {
        for (var i = 0; i < _invFreq.Length; i++)
        {
            var a = pos * _invFreq[i];
            cos[i] = MathF.Cos(a);
            sin[i] = MathF.Sin(a);
        }
    }

    /// <summary>Rotates x (head_dim) in place; inverse rotates by -theta (the backward).</summary>
    public void Apply(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool inverse)
    {
        var half = Dims / 2;
        for (var j = 0; j < half; j++)
        {
            var x1 = x[j];
            var x2 = x[j + half];
            var s = inverse ? -sin[j] : sin[j];
            x[j] = x1 * cos[j] - x2 * s;
            x[j + half] = x2 * cos[j] + x1 * s;
        }
    }
}
