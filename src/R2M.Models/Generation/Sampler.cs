using System.Numerics.Tensors;

namespace R2M.Models.Generation;

/// <summary>Picks the next token from one row of logits: greedy, or temperature / top-k / top-p sampling.</summary>
internal sealed class Sampler(GenerationOptions options, int vocab)
{
    private readonly Random _rng = new(options.Seed);
    private readonly float[] _z = new float[vocab];
    private readonly int[] _order = new int[vocab];
    private readonly float[] _keys = new float[vocab];

    /// <summary>Returns the token and its log-prob under log_softmax(logits / T) (T = 1 when greedy).</summary>
    public (int Token, float LogProb) Next(ReadOnlySpan<float> logits)
    {
        var t = options.Temperature == 0 ? 1f : options.Temperature;
        TensorPrimitives.Divide(logits, t, _z);
        var max = TensorPrimitives.Max(_z);
        TensorPrimitives.Subtract(_z, max, _z);
        TensorPrimitives.Exp(_z, _z);
        var sum = TensorPrimitives.Sum(_z);
        TensorPrimitives.Divide(_z, sum, _z);
        var token = options.Temperature == 0 ? TensorPrimitives.IndexOfMax(logits) : Sample();
        var logProb = logits[token] / t - max - MathF.Log(sum);
        return (token, logProb);
    }

    /// <summary>Samples from the probabilities in _z after top-k / top-p truncation.</summary>
    private int Sample()
    {
        var n = _z.Length;
        var kept = n;
        if (options.TopK > 0 || options.TopP < 1)
        {
            for (var i = 0; i < n; i++)
            {
                _order[i] = i;
                _keys[i] = -_z[i];
            }
            // Descending probability; Array.Sort is deterministic for equal input, which is all the seed promise needs.
            Array.Sort(_keys, _order);
            if (options.TopK > 0)
                kept = Math.Min(kept, options.TopK);
            if (options.TopP < 1)
            {
                double cum = 0;
                for (var i = 0; i < kept; i++)
                {
                    cum += _z[_order[i]];
                    if (cum >= options.TopP)
                    {
                        kept = i + 1;
                        break;
                    }
                }
            }
        }
        double total = 0;
        for (var i = 0; i < kept; i++)
            total += _z[kept == n ? i : _order[i]];
        var u = _rng.NextDouble() * total;
        double acc = 0;
        for (var i = 0; i < kept; i++)
        {
            var id = kept == n ? i : _order[i];
            acc += _z[id];
            if (u < acc)
                return id;
        }
        return kept == n ? n - 1 : _order[kept - 1];
    }
}
