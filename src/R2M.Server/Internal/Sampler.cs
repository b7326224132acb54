namespace R2M.Server.Internal;

/// <summary>
/// Token sampling from one row of logits: temperature, top-k, nucleus (top-p). The returned
/// log-prob is that of the temperature-scaled distribution without truncation (TRL's convention,
/// REFERENCE.md section 5); temperature 0 is greedy with the log-prob at temperature 1.
/// </summary>
internal static class Sampler
{
    public static (int Token, float LogProb) Sample(ReadOnlySpan<float> logits, float temperature, int topK, float topP, Random rng)
    {
        var v = logits.Length;
        var t = temperature > 0 ? temperature : 1f;
        var z = new float[v];
        for (var i = 0; i < v; i++) z[i] = logits[i] / t;
        var lse = LogSumExp(z);
        if (temperature == 0)
        {
            var best = 0;
            for (var i = 1; i < v; i++) if (z[i] > z[best]) best = i;
            return (best, z[best] - lse);
        }

        var order = Enumerable.Range(0, v).ToArray();
        Array.Sort(order, (a, b) => z[b].CompareTo(z[a]));
        var keep = topK > 0 ? Math.Min(topK, v) : v;
        if (topP is > 0 and < 1)
        {
            double mass = 0;
            for (var i = 0; i < keep; i++)
            {
                mass += Math.Exp(z[order[i]] - lse);
                if (mass >= topP)
                {
                    keep = i + 1;
                    break;
                }
            }
        }

        double total = 0;
        for (var i = 0; i < keep; i++) total += Math.Exp(z[order[i]] - lse);
        var u = rng.NextDouble() * total;
        var pick = order[keep - 1];
        for (var i = 0; i < keep; i++)
        {
            u -= Math.Exp(z[order[i]] - lse);
            if (u <= 0)
            {
                pick = order[i];
                break;
            }
        }

        return (pick, z[pick] - lse);
    }

    /// <summary>Stable log-sum-exp: the max is subtracted before exponentiating.</summary>
    public static float LogSumExp(ReadOnlySpan<float> z)
    {
        var max = float.NegativeInfinity;
        foreach (var x in z) if (x > max) max = x;
        double s = 0;
        foreach (var x in z) s += Math.Exp(x - max);
        return (float)(max + Math.Log(s));
    }

    /// <summary>A per-(seed, prompt, sample) generator, so results do not depend on batching (splitmix64 mixing).</summary>
    public static Random ForSample(ulong seed, int prompt, int sample)
    {
        var x = seed ^ ((ulong)(uint)prompt << 32) ^ (uint)sample;
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return new Random((int)(x & 0x7FFFFFFF));
    }
}
