namespace R2M.Tensors;

/// <summary>
/// Deterministic seeded RNG: xoshiro256** (Blackman and Vigna, "Scrambled Linear Pseudorandom Number
/// Generators", ACM TOMS 2021) seeded through splitmix64 as its authors recommend. Not thread-safe:
/// use one instance per stream. State can be saved and restored for reproducible resumption.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spare;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The full generator state (including a cached Box-Muller normal).</summary>
    public readonly record struct State(ulong S0, ulong S1, ulong S2, ulong S3, bool HasSpare, double Spare);

    public State GetState() => new(_s0, _s1, _s2, _s3, _hasSpare, _spare);

    public void SetState(State state)
    {
        if ((state.S0 | state.S1 | state.S2 | state.S3) == 0)
        {
            throw new ArgumentException("xoshiro256** state must not be all zero", nameof(state));
        }
        (_s0, _s1, _s2, _s3, _hasSpare, _spare) = (state.S0, state.S1, state.S2, state.S3, state.HasSpare, state.Spare);
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform double in [0, 1) from the top 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform float in [0, 1) from the top 24 bits.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>Uniform integer in [0, maxExclusive) without modulo bias (Lemire's method).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxExclusive), maxExclusive, "must be > 0");
        }
        ulong bound = (ulong)maxExclusive;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong hi = Math.BigMul(NextUInt64(), bound, out ulong lo);
            if (lo >= threshold)
            {
                return (int)hi;
            }
        }
    }

    /// <summary>Standard normal via Box-Muller (both values used).</summary>
    public double NextNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spare;
        }
        double u1 = 1.0 - NextDouble(); // (0, 1]: log is finite
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Fills dest with uniform values in [low, high).</summary>
    public void FillUniform(Span<float> dest, float low, float high)
    {
        for (int i = 0; i < dest.Length; i++)
        {
            dest[i] = low + (high - low) * NextFloat();
        }
    }

    /// <summary>Fills dest with normal values of the given mean and standard deviation.</summary>
    public void FillNormal(Span<float> dest, float mean, float std)
    {
        for (int i = 0; i < dest.Length; i++)
        {
            dest[i] = (float)(mean + std * NextNormal());
        }
    }
}
