using static R2M.Tensors.Tests.TestUtil;

namespace R2M.Tensors.Tests;

public sealed class AttentionTests
{
    /// <summary>Double reference: causal + key padding, GQA; fully masked rows give zeros.</summary>
    private static double[] AttnRef(double[] q, double[] k, double[] v, int[]? mask, int B, int T, int nh, int nkv, int hd)
    {
        var o = new double[B * T * nh * hd];
        double scale = 1 / Math.Sqrt(hd);
        var s = new double[T];
        for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
        {
            int kvh = h / (nh / nkv);
            for (int t = 0; t < T; t++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j <= t; j++)
                {
                    if (mask != null && mask[b * T + j] == 0) { s[j] = double.NegativeInfinity; continue; }
                    double d = 0;
                    for (int c = 0; c < hd; c++)
                        d += q[((b * T + t) * nh + h) * hd + c] * k[((b * T + j) * nkv + kvh) * hd + c];
                    s[j] = d * scale;
                    max = Math.Max(max, s[j]);
                }
                if (double.IsNegativeInfinity(max)) continue;
                double sum = 0;
                for (int j = 0; j <= t; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int j = 0; j <= t; j++)
                for (int c = 0; c < hd; c++)
                    o[((b * T + t) * nh + h) * hd + c] += s[j] / sum * v[((b * T + j) * nkv + kvh) * hd + c];
            }
        }
        return o;
    }

    [Theory]
    [InlineData(2, 7, 4, 2, 8, false)]
    [InlineData(2, 7, 4, 4, 5, true)]
    [InlineData(1, 70, 2, 1, 4, true)]   // more than one 64-query block
    [InlineData(3, 5, 3, 1, 3, true)]
    public void Attention_Backward_MatchesFiniteDifferences(int B, int T, int nh, int nkv, int hd, bool padded)
    {
        var rng = new Random(B * 1000 + T * 10 + nh + hd);
        int[]? mask = null;
        if (padded)
        {
            mask = Enumerable.Repeat(1, B * T).ToArray();
            mask[0] = 0;                 // left padding of sequence 0: its query 0 sees no key
            mask[B * T - 1] = 0;         // right padding of the last sequence
            if (T > 3) mask[1] = 0;
        }
        var q = RandomFloats(rng, B * T * nh * hd, 1.5);
        var k = RandomFloats(rng, B * T * nkv * hd, 1.5);
        var v = RandomFloats(rng, B * T * nkv * hd);
        var dy = RandomFloats(rng, q.Length);
        var y = new float[q.Length];
        var probs = new float[B * nh * T * T];
        Attention.Forward(y, probs, q, k, v, mask, B, T, nh, nkv, hd);
        double[] qd = ToDouble(q), kd = ToDouble(k), vd = ToDouble(v);
        Assert.DoesNotContain(y, float.IsNaN);
        AssertClose(y, AttnRef(qd, kd, vd, mask, B, T, nh, nkv, hd), 1e-5, "y");

        var yNoProbs = new float[q.Length];
        Attention.Forward(yNoProbs, default, q, k, v, mask, B, T, nh, nkv, hd);
        Assert.Equal(y, yNoProbs);

        var dq0 = Preset(rng, q.Length);
        var dk0 = Preset(rng, k.Length);
        var dv0 = Preset(rng, v.Length);
        float[] dq = (float[])dq0.Clone(), dk = (float[])dk0.Clone(), dv = (float[])dv0.Clone();
        Attention.Backward(dq, dk, dv, dy, probs, q, k, v, B, T, nh, nkv, hd);
        Assert.DoesNotContain(dq, float.IsNaN);
        AssertClose(dq, NumericGradient(x => Dot(AttnRef(x, kd, vd, mask, B, T, nh, nkv, hd), dy), qd), 2e-3, "dq", dq0);
        AssertClose(dk, NumericGradient(x => Dot(AttnRef(qd, x, vd, mask, B, T, nh, nkv, hd), dy), kd), 2e-3, "dk", dk0);
        AssertClose(dv, NumericGradient(x => Dot(AttnRef(qd, kd, x, mask, B, T, nh, nkv, hd), dy), vd), 2e-3, "dv", dv0);
    }

    [Fact]
    public void Attention_FullyMaskedRow_IsZeroNotNaN()
    {
        int B = 1, T = 3, nh = 1, hd = 2;
        var q = new float[] { 1, 2, 3, 4, 5, 6 };
        var mask = new[] { 0, 1, 1 };
        var y = new float[6];
        var p = new float[9];
        Attention.Forward(y, p, q, q, q, mask, B, T, nh, nh, hd);
        Assert.Equal(new float[] { 0, 0 }, y[..2]);
        Assert.Equal(new float[] { 0, 0, 0 }, p[..3]);
        Assert.Equal(new float[] { 3, 4 }, y[2..4]); // query 1 sees only key 1
    }

    /// <summary>Head sizes of every decode path (span loop, 16-key score blocks with tails, 64/128 in registers), GQA and MHA.</summary>
    [Theory]
    [InlineData(9, 4, 2, 8)]
    [InlineData(37, 4, 1, 64)]
    [InlineData(16, 2, 2, 64)]
    [InlineData(20, 2, 2, 128)]
    [InlineData(33, 6, 3, 48)]
    public void DecodeStep_EqualsLastRowOfFullForward(int T, int nh, int nkv, int hd)
    {
        var rng = new Random(9);
        int B = 3, capacity = T + 3;
        var q = RandomFloats(rng, B * T * nh * hd);
        var k = RandomFloats(rng, B * T * nkv * hd);
        var v = RandomFloats(rng, B * T * nkv * hd);
        var mask = Enumerable.Repeat(1, B * T).ToArray();
        mask[1 * T + 0] = 0; mask[1 * T + 1] = 0; // left padding of sequence 1
        var y = new float[q.Length];
        Attention.Forward(y, default, q, k, v, mask, B, T, nh, nkv, hd);

        // Cache (B, capacity, nKV, hd) holding the T positions; the query is the last position.
        var kc = new float[B * capacity * nkv * hd];
        var vc = new float[kc.Length];
        var cmask = new int[B * capacity];
        var qLast = new float[B * nh * hd];
        for (int b = 0; b < B; b++)
        {
            Array.Copy(k, b * T * nkv * hd, kc, b * capacity * nkv * hd, T * nkv * hd);
            Array.Copy(v, b * T * nkv * hd, vc, b * capacity * nkv * hd, T * nkv * hd);
            Array.Copy(mask, b * T, cmask, b * capacity, T);
            Array.Copy(q, ((b * T) + T - 1) * nh * hd, qLast, b * nh * hd, nh * hd);
        }
        var o = new float[B * nh * hd];
        Attention.DecodeStep(o, qLast, kc, vc, cmask, B, capacity, T, nh, nkv, hd);
        for (int b = 0; b < B; b++)
        {
            for (int i = 0; i < nh * hd; i++)
            {
                Assert.Equal(y[((b * T) + T - 1) * nh * hd + i], o[b * nh * hd + i], 5e-6f);
            }
        }
    }

    [Theory]
    [InlineData(0, 9)]   // whole prompt into an empty cache
    [InlineData(4, 5)]   // continuation: 5 new queries after 4 cached positions
    [InlineData(8, 1)]   // one decode step
    [InlineData(1, 70)]  // more than one 64-query block after a cached position
    public void ForwardCached_EqualsRowsOfFullForward(int past, int queries)
    {
        var rng = new Random(past * 31 + queries);
        int B = 2, T = past + queries, nh = 4, nkv = 2, hd = 8, capacity = T + 3;
        var q = RandomFloats(rng, B * T * nh * hd);
        var k = RandomFloats(rng, B * T * nkv * hd);
        var v = RandomFloats(rng, B * T * nkv * hd);
        var mask = Enumerable.Repeat(1, B * T).ToArray();
        mask[1 * T + 0] = 0; // left padding of sequence 1
        var y = new float[q.Length];
        Attention.Forward(y, default, q, k, v, mask, B, T, nh, nkv, hd);
        var kc = new float[B * capacity * nkv * hd];
        var vc = new float[kc.Length];
        var cmask = new int[B * capacity];
        var qNew = new float[B * queries * nh * hd];
        for (int b = 0; b < B; b++)
        {
            Array.Copy(k, b * T * nkv * hd, kc, b * capacity * nkv * hd, T * nkv * hd);
            Array.Copy(v, b * T * nkv * hd, vc, b * capacity * nkv * hd, T * nkv * hd);
            Array.Copy(mask, b * T, cmask, b * capacity, T);
            Array.Copy(q, (b * T + past) * nh * hd, qNew, b * queries * nh * hd, queries * nh * hd);
        }
        var o = new float[qNew.Length];
        Attention.ForwardCached(o, qNew, kc, vc, cmask, B, queries, capacity, past, nh, nkv, hd);
        for (int b = 0; b < B; b++)
        {
            for (int i = 0; i < queries * nh * hd; i++)
            {
                Assert.Equal(y[(b * T + past) * nh * hd + i], o[b * queries * nh * hd + i], 5e-6f);
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Attention.ForwardCached(o, qNew, kc, vc, cmask, B, queries, capacity, capacity, nh, nkv, hd));
    }

    [Fact]
    public void Attention_BadHeads_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            Attention.Forward(new float[12], default, new float[12], new float[12], new float[12], default, 1, 1, 3, 2, 4));
        var ex = Assert.Throws<ArgumentException>(() =>
            Attention.Forward(new float[8], default, new float[8], new float[3], new float[8], default, 1, 1, 2, 2, 4));
        Assert.Equal("k", ex.ParamName);
    }
}
