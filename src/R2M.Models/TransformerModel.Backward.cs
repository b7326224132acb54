using System.Numerics.Tensors;
using R2M.Tensors;

namespace R2M.Models;

public abstract partial class TransformerModel
{
    /// <summary>
    /// Backward of the last <c>Forward(..., training: true)</c>: accumulates every parameter's
    /// gradient into <see cref="Gradients"/> (call <see cref="ZeroGrad"/> first). Any of the three
    /// upstream gradients may be empty.
    /// </summary>
    /// <param name="dLogits">(B, T, V) gradient of the LM logits</param>
    /// <param name="dHidden">(B, T, C) gradient of the final hidden states (after the final norm)</param>
    /// <param name="dScores">(B, num_labels) gradient of the classification scores</param>
    public void Backward(ReadOnlySpan<float> dLogits, ReadOnlySpan<float> dHidden, ReadOnlySpan<float> dScores = default)
    {
        var a = _acts is { Training: true } x ? x : throw new InvalidOperationException("Backward needs a preceding Forward with training: true");
        var c = Config;
        int b = a.B, t = a.T, n = b * t, hid = c.HiddenSize;
        CheckGradShape(dLogits, c.Head == ModelHead.CausalLm ? (long)n * c.VocabSize : 0, nameof(dLogits));
        CheckGradShape(dHidden, (long)n * hid, nameof(dHidden));
        CheckGradShape(dScores, c.Head == ModelHead.CausalLm ? 0 : b * c.NumLabels, nameof(dScores));
        // Scratch is kept between calls of the same B*T (training loops repeat one shape).
        var scratch = _scratch is { } kept && kept.N == n ? kept : _scratch = new BackwardScratch(this, b, t);
        var dh = scratch.DHidden;
        if (dHidden.IsEmpty)
            Array.Clear(dh);
        else
            dHidden.CopyTo(dh);
        HeadBackward(a, dLogits, dScores, dh);
        var dres = scratch.DResid;
        Array.Clear(dres);
        NormBlock.Backward(Rms, dh, a.Resid[c.NumLayers], a.FinalMean, a.FinalRstd, P(_globals.NormW, hid), dres,
            G(_globals.NormW, hid), G(_globals.NormB, hid), n, hid);
        for (var l = c.NumLayers - 1; l >= 0; l--)
            LayerBackward(a, l, dres, scratch);
        Embedding.Backward(G(_globals.Embed, (long)c.VocabSize * hid), dres, a.Tokens, n, hid, c.VocabSize);
    }

    private static void CheckGradShape(ReadOnlySpan<float> g, long expected, string name)
    {
        if (!g.IsEmpty && g.Length != expected)
            throw new ArgumentException($"{name} has {g.Length} values, expected {expected}", name);
    }

    /// <summary>LM head or score head backward into dh (N, C).</summary>
    private void HeadBackward(ActivationBuffers a, ReadOnlySpan<float> dLogits, ReadOnlySpan<float> dScores, Span<float> dh)
    {
        var c = Config;
        int n = a.B * a.T, hid = c.HiddenSize;
        if (c.Head == ModelHead.CausalLm)
        {
            if (!dLogits.IsEmpty)
                Linear.Backward(dh, G(_globals.HeadW, (long)c.VocabSize * hid), default, dLogits, a.Hidden,
                    P(_globals.HeadW, (long)c.VocabSize * hid), n, hid, c.VocabSize);
            return;
        }
        if (dScores.IsEmpty)
            return;
        var w = P(_globals.HeadW, (long)c.NumLabels * hid);
        var dw = G(_globals.HeadW, (long)c.NumLabels * hid);
        for (var bi = 0; bi < a.B; bi++)
        {
            var row = (bi * a.T + a.ScoreIndex[bi]) * hid;
            for (var l = 0; l < c.NumLabels; l++)
            {
                var g = dScores[bi * c.NumLabels + l];
                TensorPrimitives.MultiplyAdd(w.Slice(l * hid, hid), g, dh.Slice(row, hid), dh.Slice(row, hid));
                TensorPrimitives.MultiplyAdd(a.Hidden.AsSpan(row, hid), g, dw.Slice(l * hid, hid), dw.Slice(l * hid, hid));
                if (_globals.HeadB >= 0)
                    Gradients[_globals.HeadB + l] += g;
            }
        }
    }

    private BackwardScratch? _scratch;

    /// <summary>Temporaries of the backward pass, (N = B*T) rows each.</summary>
    private sealed class BackwardScratch(TransformerModel m, int b, int t)
    {
        private readonly int _n = b * t;
        public readonly float[] DHidden = new float[b * t * m.Config.HiddenSize];
        public readonly float[] DResid = new float[b * t * m.Config.HiddenSize];
        public readonly float[] DLn1 = new float[b * t * m.Config.HiddenSize];
        public readonly float[] DLn2 = new float[b * t * m.Config.HiddenSize];
        public readonly float[] DAtty = new float[b * t * m.Config.NumHeads * m.Config.HeadDim];
        public readonly float[] DQ = new float[b * t * m.Config.NumHeads * m.Config.HeadDim];
        public readonly float[] DK = new float[b * t * m.Config.NumKvHeads * m.Config.HeadDim];
        public readonly float[] DV = new float[b * t * m.Config.NumKvHeads * m.Config.HeadDim];
        public readonly float[] DQr = new float[b * t * m.Config.NumHeads * m.Config.HeadDim];
        public readonly float[] DKr = new float[b * t * m.Config.NumKvHeads * m.Config.HeadDim];
        public readonly float[] DQn = m.Config.QkNorm ? new float[b * t * m.Config.NumHeads * m.Config.HeadDim] : [];
        public readonly float[] DKn = m.Config.QkNorm ? new float[b * t * m.Config.NumKvHeads * m.Config.HeadDim] : [];
        public readonly float[] DQkv = new float[b * t * m.QkvWidth];
        public readonly float[] DH = new float[b * t * m.Config.IntermediateSize];
        public readonly float[] DPre = new float[b * t * m.UpWidth];

        public int N => _n;
    }

    /// <summary>
    /// One layer backward; dres (N, C) holds d(layer output) and becomes d(layer input).
    /// Sequential: out = mid + mlp(ln2(mid)), mid = x + attn(ln1(x)).
    /// Parallel: out = x + attn(ln1(x)) + mlp(ln2(x)).
    /// </summary>
    private void LayerBackward(ActivationBuffers a, int l, Span<float> dres, BackwardScratch s)
    {
        var c = Config;
        var sl = _layers[l];
        int n = s.N, hid = c.HiddenSize, inter = c.IntermediateSize, qd = c.NumHeads * c.HeadDim;
        var x = a.Resid[l];
        var mlpIn = c.UseParallelResidual ? x : a.Mid[l];
        // MLP branch: d(branch output) = dres.
        Array.Clear(s.DH);
        Linear.Backward(s.DH, G(sl.DownW, (long)hid * inter), G(sl.DownB, hid), dres, a.H[l], P(sl.DownW, (long)hid * inter), n, inter, hid);
        Array.Clear(s.DPre);
        MlpBlock.Backward(_act, Gated, a.Pre[l], s.DH, s.DPre, n, inter);
        Array.Clear(s.DLn2);
        Linear.Backward(s.DLn2, G(sl.UpW, (long)UpWidth * hid), G(sl.UpB, UpWidth), s.DPre, a.Ln2[l], P(sl.UpW, (long)UpWidth * hid), n, hid, UpWidth);
        if (!c.UseParallelResidual)
            NormBlock.Backward(Rms, s.DLn2, mlpIn, a.Ln2Mean[l], a.Ln2Rstd[l], P(sl.Ln2W, hid), dres, G(sl.Ln2W, hid), G(sl.Ln2B, hid), n, hid);
        // Attention branch: d(branch output) = dres (now d(mid) when sequential).
        Array.Clear(s.DAtty);
        Linear.Backward(s.DAtty, G(sl.OW, (long)hid * qd), G(sl.OB, hid), dres, a.Atty[l], P(sl.OW, (long)hid * qd), n, qd, hid);
        Array.Clear(s.DQ);
        Array.Clear(s.DK);
        Array.Clear(s.DV);
        Attention.Backward(s.DQ, s.DK, s.DV, s.DAtty, a.Probs[l], a.Q[l], a.K[l], a.V[l], a.B, a.T, c.NumHeads, c.NumKvHeads, c.HeadDim);
        MergeHeadsBackward(s, a, l);
        Array.Clear(s.DLn1);
        Linear.Backward(s.DLn1, G(sl.QkvW, (long)QkvWidth * hid), G(sl.QkvB, QkvWidth), s.DQkv, a.Ln1[l], P(sl.QkvW, (long)QkvWidth * hid), n, hid, QkvWidth);
        if (c.UseParallelResidual)
            NormBlock.Backward(Rms, s.DLn2, mlpIn, a.Ln2Mean[l], a.Ln2Rstd[l], P(sl.Ln2W, hid), dres, G(sl.Ln2W, hid), G(sl.Ln2B, hid), n, hid);
        NormBlock.Backward(Rms, s.DLn1, x, a.Ln1Mean[l], a.Ln1Rstd[l], P(sl.Ln1W, hid), dres, G(sl.Ln1W, hid), G(sl.Ln1B, hid), n, hid);
    }

    /// <summary>
    /// Inverse of SplitHeads: un-rotate dq (N, nH, hd) and dk (N, nKV, hd), back through Qwen3's
    /// q/k norm (accumulating q_norm / k_norm gradients), then scatter them and dv (N, nKV, hd)
    /// into the fused dqkv (N, Dqkv), overwritten.
    /// </summary>
    private unsafe void MergeHeadsBackward(BackwardScratch s, ActivationBuffers a, int l)
    {
        int nH = Config.NumHeads, nKV = Config.NumKvHeads, hd = Config.HeadDim, w = QkvWidth, n = s.N;
        int qd = nH * hd, kvd = nKV * hd;
        var positions = a.Positions.AsSpan(0, n);
        float[] dq = s.DQ, dk = s.DK;
        if (_invFreq.Length > 0)
        {
            Array.Clear(s.DQr);
            Array.Clear(s.DKr);
            Rotary.Backward(s.DQr, s.DQ, positions, _invFreq, n, nH, hd, Config.RotaryDims);
            Rotary.Backward(s.DKr, s.DK, positions, _invFreq, n, nKV, hd, Config.RotaryDims);
            (dq, dk) = (s.DQr, s.DKr);
        }
        if (Config.QkNorm)
        {
            var sl = _layers[l];
            Array.Clear(s.DQn);
            Array.Clear(s.DKn);
            RmsNorm.Backward(s.DQn, G(sl.QNormW, hd), dq, a.QPre[l], P(sl.QNormW, hd), a.QRstd[l], n * nH, hd);
            RmsNorm.Backward(s.DKn, G(sl.KNormW, hd), dk, a.KPre[l], P(sl.KNormW, hd), a.KRstd[l], n * nKV, hd);
            (dq, dk) = (s.DQn, s.DKn);
        }
        fixed (float* pq = dq, pk = dk, pv = s.DV, pd = s.DQkv)
        {
            nint qP = (nint)pq, kP = (nint)pk, vP = (nint)pv, dP = (nint)pd;
            RowParallel.For(n, w, (lo, hi) =>
            {
                for (var i = lo; i < hi; i++)
                {
                    var row = new Span<float>((float*)dP + (long)i * w, w);
                    var qRow = new ReadOnlySpan<float>((float*)qP + (long)i * qd, qd);
                    var kRow = new ReadOnlySpan<float>((float*)kP + (long)i * kvd, kvd);
                    var vRow = new ReadOnlySpan<float>((float*)vP + (long)i * kvd, kvd);
                    for (var h = 0; h < nH; h++)
                        qRow.Slice(h * hd, hd).CopyTo(row.Slice(QkvColumn(0, h), hd));
                    for (var g = 0; g < nKV; g++)
                    {
                        kRow.Slice(g * hd, hd).CopyTo(row.Slice(QkvColumn(1, g), hd));
                        vRow.Slice(g * hd, hd).CopyTo(row.Slice(QkvColumn(2, g), hd));
                    }
                }
            });
        }
    }
}
