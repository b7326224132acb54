using R2M.Alignment;

namespace R2M.Server.Internal;

internal readonly record struct TrainStepResult(float Loss, float Kl, float ClipFraction, float Entropy, float GradNorm);

/// <summary>
/// Per-token log-probs of response tokens under a causal LM, and one clipped-surrogate AdamW step
/// (REFERENCE.md section 5). Response token k of a sequence with P prompt tokens sits at position
/// P + k and is predicted by the logits at position P + k - 1.
/// </summary>
internal static class SequenceLogProbs
{
    public sealed record Output(float[][] Logp, float[] Logits, float[] Hidden, int T, int[] Tokens);

    /// <summary>logp (per item, response length) at each item's temperature.</summary>
    public static Output Compute(HostedModel m, List<OptItem> items, bool training)
    {
        int b = items.Count, t = items.Max(i => i.Prompt.Length + i.Response.Length), v = m.VocabSize;
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (var i = 0; i < b; i++)
        {
            items[i].Prompt.CopyTo(tokens, i * t);
            items[i].Response.CopyTo(tokens, (i * t) + items[i].Prompt.Length);
            Array.Fill(mask, 1, i * t, items[i].Prompt.Length + items[i].Response.Length);
        }

        var res = m.Model.Forward(tokens, mask, b, t, training);
        var logits = res.Logits.Span;
        var logp = new float[b][];
        var z = new float[v];
        for (var i = 0; i < b; i++)
        {
            var it = items[i];
            logp[i] = new float[it.Response.Length];
            for (var k = 0; k < it.Response.Length; k++)
            {
                var row = logits.Slice(((i * t) + it.Prompt.Length + k - 1) * v, v);
                for (var j = 0; j < v; j++) z[j] = row[j] / it.Temperature;
                logp[i][k] = z[it.Response[k]] - Sampler.LogSumExp(z);
            }
        }

        return new Output(logp, training ? res.Logits.ToArray() : [], res.Hidden.ToArray(), t, tokens);
    }

    public static TrainStepResult TrainStep(ServerState state, List<OptItem> batch, float[]?[] old, float[] adv, PolicyLossOptions options,
        float lr, float clip, bool refresh)
    {
        var policy = state.Policy;
        var reference = Compute(state.Reference, batch, training: false).Logp;
        var cur = Compute(policy, batch, training: true);
        int b = batch.Count, r = batch.Max(i => i.Response.Length), v = policy.VocabSize, t = cur.T, c = policy.Width;
        var logp = new float[b * r];
        var oldLp = new float[b * r];
        var refLp = new float[b * r];
        var mask = new bool[b * r];
        for (var i = 0; i < b; i++)
        {
            for (var k = 0; k < batch[i].Response.Length; k++)
            {
                var n = (i * r) + k;
                (logp[n], oldLp[n], refLp[n], mask[n]) = (cur.Logp[i][k], old[i]![k], reference[i][k], true);
            }
        }

        var dLogp = new float[b * r];
        var res = PolicyLoss.Compute(logp, oldLp, refLp, mask, adv, b, r, options, dLogp);
        var dLogits = new float[b * t * v];
        var entropy = LogitGradient(batch, cur, dLogp, r, v, dLogits);
        if (refresh) Refresh(batch, cur.Hidden, t, c);
        var m = policy.Model;
        m.ZeroGrad();
        m.Backward(dLogits, default);
        var norm = GradClip.ClipGlobalNorm(m.Gradients, clip);
        m.AdamWStep(lr);
        return new TrainStepResult(res.Loss, Kl(logp, refLp, mask), res.ClipFraction, entropy, norm);
    }

    /// <summary>
    /// dLogits (B,T,V) from dLogp (B,R): d logp / d z_j = (1[j = y] - p_j) / temperature for the
    /// softmax of z / temperature. Returns the mean token entropy (nats).
    /// </summary>
    private static float LogitGradient(List<OptItem> batch, Output cur, float[] dLogp, int r, int v, float[] dLogits)
    {
        var t = cur.T;
        var p = new float[v];
        double entropy = 0;
        var count = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var it = batch[i];
            for (var k = 0; k < it.Response.Length; k++)
            {
                var off = ((i * t) + it.Prompt.Length + k - 1) * v;
                var row = cur.Logits.AsSpan(off, v);
                for (var j = 0; j < v; j++) p[j] = row[j] / it.Temperature;
                var lse = Sampler.LogSumExp(p);
                double h = 0;
                for (var j = 0; j < v; j++)
                {
                    var lp = p[j] - lse;
                    p[j] = MathF.Exp(lp);
                    h -= p[j] * lp;
                }

                entropy += h;
                count++;
                var g = dLogp[(i * r) + k] / it.Temperature;
                if (g == 0) continue;
                var d = dLogits.AsSpan(off, v);
                for (var j = 0; j < v; j++) d[j] -= g * p[j];
                d[it.Response[k]] += g;
            }
        }

        return count == 0 ? 0 : (float)(entropy / count);
    }

    /// <summary>h' of R2M-METHOD.md section 1 step 5: rows 0..S-2 of this forward pass replace the stored hidden states.</summary>
    private static void Refresh(List<OptItem> batch, float[] hidden, int t, int c)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Entry is not { } e) continue;
            var rows = batch[i].Prompt.Length + batch[i].Response.Length - 1;
            e.Hidden = hidden.AsSpan(i * t * c, rows * c).ToArray();
            e.Rows = rows;
        }
    }

    private static float Kl(float[] logp, float[] refLp, bool[] mask)
    {
        double kl = 0;
        var n = 0;
        for (var i = 0; i < logp.Length; i++)
        {
            if (!mask[i]) continue;
            double d = refLp[i] - logp[i];
            kl += Math.Exp(d) - d - 1;
            n++;
        }

        return n == 0 ? 0 : (float)(kl / n);
    }
}
