using System.Numerics.Tensors;

namespace R2M.Models.Layers;

/// <summary>
/// Per-token log-probabilities: logp[n] = log_softmax(logits[n] / temperature)[target[n]], with a
/// stable log-sum-exp (max subtracted; TensorPrimitives.SoftMax is not used for that reason).
/// </summary>
internal static unsafe class LogProbs
{
    /// <param name="logits">(N, V)</param>
    /// <param name="targets">(N); a negative target gives logp 0 (ignored position)</param>
    /// <param name="logp">(N), written</param>
    public static void Forward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, Span<float> logp, int n, int v, float temperature)
    {
        fixed (float* pl = logits, po = logp)
        fixed (int* pt = targets)
        {
            nint lP = (nint)pl, oP = (nint)po, tP = (nint)pt;
            Par.For(n, (lo, hi) =>
            {
                var z = new float[v];
                for (var r = lo; r < hi; r++)
                {
                    var t = ((int*)tP)[r];
                    if (t < 0)
                    {
                        ((float*)oP)[r] = 0;
                        continue;
                    }
                    var row = new ReadOnlySpan<float>((float*)lP + (long)r * v, v);
                    ((float*)oP)[r] = row[t] / temperature - LogSumExp(row, temperature, z);
                }
            }, 1);
        }
    }

    /// <summary>log sum exp(row / temperature); z (V) is scratch.</summary>
    public static float LogSumExp(ReadOnlySpan<float> row, float temperature, Span<float> z)
    {
        TensorPrimitives.Divide(row, temperature, z);
        var max = TensorPrimitives.Max(z);
        TensorPrimitives.Subtract(z, max, z);
        TensorPrimitives.Exp(z, z);
        return max + MathF.Log(TensorPrimitives.Sum(z));
    }

    /// <summary>dlogits[n] += dlogp[n] (onehot(target) - softmax(logits[n]/T)) / T.</summary>
    /// <param name="dlogits">(N, V), accumulated</param>
    public static void Backward(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, ReadOnlySpan<float> dlogp,
        Span<float> dlogits, int n, int v, float temperature)
    {
        fixed (float* pl = logits, pg = dlogp, pd = dlogits)
        fixed (int* pt = targets)
        {
            nint lP = (nint)pl, gP = (nint)pg, dP = (nint)pd, tP = (nint)pt;
            Par.For(n, (lo, hi) =>
            {
                var z = new float[v];
                for (var r = lo; r < hi; r++)
                {
                    var t = ((int*)tP)[r];
                    var g = ((float*)gP)[r];
                    if (t < 0 || g == 0)
                        continue;
                    var row = new ReadOnlySpan<float>((float*)lP + (long)r * v, v);
                    var d = new Span<float>((float*)dP + (long)r * v, v);
                    var lse = LogSumExp(row, temperature, z);
                    TensorPrimitives.Divide(row, temperature, z);
                    TensorPrimitives.Subtract(z, lse, z);
                    TensorPrimitives.Exp(z, z);
                    TensorPrimitives.MultiplyAdd(z, -g / temperature, d, d);
                    d[t] += g / temperature;
                }
            }, 1);
        }
    }
}
