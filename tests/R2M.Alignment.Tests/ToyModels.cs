using System.Numerics.Tensors;

namespace R2M.Alignment.Tests;

/// <summary>
/// A tiny bigram policy for loop tests: h_t = tanh(E[x_t]) (the "last-layer hidden state"),
/// logits_t = h_t U, p = softmax(logits / temperature). Token 0 is EOS. Parameters: E (V,D) then U (D,V).
/// </summary>
internal sealed class ToyPolicy : ITrainablePolicy
{
    private readonly int _v, _d;
    private readonly float[] _p, _g;

    public ToyPolicy(int vocab, int dim, int seed)
    {
        (_v, _d) = (vocab, dim);
        _p = new float[2 * vocab * dim];
        _g = new float[_p.Length];
        var rng = new Random(seed);
        for (int i = 0; i < _p.Length; i++) _p[i] = (float)(rng.NextDouble() - 0.5);
    }

    public int HiddenSize => _d;
    public Span<float> Parameters => _p;
    public Span<float> Gradients => _g;
    public int ForwardCalls { get; private set; }
    public void ZeroGrad() => Array.Clear(_g);

    private Span<float> E(int tok) => _p.AsSpan(tok * _d, _d);
    private Span<float> U => _p.AsSpan(_v * _d, _d * _v);

    private float[] Hidden(int tok)
    {
        var h = new float[_d];
        TensorPrimitives.Tanh(E(tok), h);
        return h;
    }

    private float[] Probs(float[] h, float temperature)
    {
        var logits = new float[_v];
        for (int i = 0; i < _d; i++) TensorPrimitives.MultiplyAdd(U.Slice(i * _v, _v), h[i], logits, logits);
        TensorPrimitives.Divide(logits, temperature, logits);
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, logits);
        TensorPrimitives.Exp(logits, logits);
        TensorPrimitives.Divide(logits, TensorPrimitives.Sum(logits), logits);
        return logits;
    }

    private float[] AllHidden(int[] seq)
    {
        var hs = new float[(seq.Length - 1) * _d];
        for (int p = 0; p < seq.Length - 1; p++) Hidden(seq[p]).CopyTo(hs, p * _d);
        return hs;
    }

    public IReadOnlyList<PolicySample> SampleGroup(ReadOnlySpan<int> prompt, int count, int maxNewTokens, float temperature, ulong seed)
    {
        var rng = new Random((int)(seed % int.MaxValue));
        var list = new List<PolicySample>();
        for (int i = 0; i < count; i++) list.Add(SampleOne(prompt, maxNewTokens, temperature, rng));
        return list;
    }

    private PolicySample SampleOne(ReadOnlySpan<int> prompt, int maxNewTokens, float temperature, Random rng)
    {
        var seq = new List<int>(prompt.ToArray());
        var comp = new List<int>();
        var logp = new List<float>();
        for (int s = 0; s < maxNewTokens; s++)
        {
            var probs = Probs(Hidden(seq[^1]), temperature);
            double u = rng.NextDouble(), c = 0;
            int tok = _v - 1;
            for (int i = 0; i < _v; i++) { c += probs[i]; if (u < c) { tok = i; break; } }
            comp.Add(tok);
            logp.Add(MathF.Log(probs[tok]));
            seq.Add(tok);
            if (tok == 0) break;
        }
        var arr = seq.ToArray();
        return new PolicySample([.. comp], [.. logp], AllHidden(arr), arr.Length - 1);
    }

    public PolicyPass Forward(IReadOnlyList<(int[] Prompt, int[] Completion)> batch, float temperature, bool keepActivations)
    {
        ForwardCalls++;
        var parts = batch.Select(x => ForwardOne(x.Prompt, x.Completion, temperature, keepActivations)).ToList();
        return new PolicyPass([.. parts.Select(p => p.CompletionLogProbs[0])], [.. parts.Select(p => p.Hidden[0])], [.. parts.Select(p => p.HiddenRows[0])], parts.Select(p => p.State).ToArray());
    }

    public PolicyPass ForwardOne(ReadOnlySpan<int> prompt, ReadOnlySpan<int> completion, float temperature, bool keepActivations)
    {
        int[] seq = [.. prompt, .. completion];
        var logp = new float[completion.Length];
        var probs = new float[completion.Length][];
        for (int t = 0; t < completion.Length; t++)
        {
            probs[t] = Probs(Hidden(seq[prompt.Length - 1 + t]), temperature);
            logp[t] = MathF.Log(probs[t][completion[t]]);
        }
        return new PolicyPass([logp], [AllHidden(seq)], [seq.Length - 1], keepActivations ? (seq, prompt.Length, probs, temperature) : null);
    }

    public void Backward(PolicyPass pass, IReadOnlyList<float[]> dLogp)
    {
        var states = (object?[])pass.State!;
        for (int i = 0; i < states.Length; i++) BackwardOne(states[i]!, dLogp[i]);
    }

    private void BackwardOne(object state, ReadOnlySpan<float> dLogp)
    {
        var (seq, plen, probs, temp) = ((int[], int, float[][], float))state;
        var gU = _g.AsSpan(_v * _d, _d * _v);
        var dlog = new float[_v];
        var dh = new float[_d];
        for (int t = 0; t < dLogp.Length; t++)
        {
            int x = seq[plen - 1 + t], y = seq[plen + t];
            var h = Hidden(x);
            // d log p_y / d logits = (onehot(y) - p) / temperature
            TensorPrimitives.Multiply(probs[t], -dLogp[t] / temp, dlog);
            dlog[y] += dLogp[t] / temp;
            for (int i = 0; i < _d; i++)
            {
                TensorPrimitives.MultiplyAdd(dlog, h[i], gU.Slice(i * _v, _v), gU.Slice(i * _v, _v));
                dh[i] = TensorPrimitives.Dot(U.Slice(i * _v, _v), dlog) * (1 - h[i] * h[i]);
            }
            var gE = _g.AsSpan(x * _d, _d);
            TensorPrimitives.Add(gE, dh, gE);
        }
    }
}

/// <summary>Toy frozen backbone: RTE = mean of fixed token vectors F[tok] over the sequence. Counts calls.</summary>
internal sealed class ToyBackbone(int vocab, int dim, int seed) : IRteSource
{
    private readonly float[] _f = Init(vocab, dim, seed);

    public int HiddenSize => dim;
    public int Calls { get; private set; }

    private static float[] Init(int v, int d, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, v * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Row of token tok (D_rm).</summary>
    public ReadOnlySpan<float> Row(int tok) => _f.AsSpan(tok * dim, dim);

    public float[] ComputeRte(ReadOnlySpan<int> sequence)
    {
        Calls++;
        var r = new float[dim];
        foreach (var tok in sequence) TensorPrimitives.Add(r, _f.AsSpan(tok * dim, dim), r);
        TensorPrimitives.Divide(r, sequence.Length, r);
        return r;
    }
}
