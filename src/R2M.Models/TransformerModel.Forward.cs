using System.Numerics.Tensors;
using R2M.Tensors;

namespace R2M.Models;

public abstract partial class TransformerModel
{
    /// <summary>
    /// Forward over a batch. Position ids are cumsum(mask) - 1 (clamped at 0), so left padding gives
    /// the same positions as no padding; padded keys are masked out of attention.
    /// </summary>
    /// <param name="tokens">(B, T) token ids in [0, vocab)</param>
    /// <param name="attentionMask">(B, T) 1 = token, 0 = padding; empty = all ones</param>
    /// <param name="training">keep activations for <see cref="Backward"/></param>
    public ForwardResult Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> attentionMask, int batch, int seqLen, bool training = false)
    {
        CheckInputs(tokens, attentionMask, batch, seqLen);
        if (training)
            ThrowIfServeOnly("Forward(training: true)");
        _lse = null;
        var a = Buffers(batch, seqLen, training);
        tokens.CopyTo(a.Tokens);
        FillMaskAndPositions(attentionMask, a.KeyMask, a.Positions, batch, seqLen, null);
        Embed(a.Tokens, a.Resid[0]);
        RunLayers(a, batch, seqLen, null);
        FinalNormAndHead(a, batch, seqLen, attentionMask, lastOnly: null);
        var n = batch * seqLen;
        return new ForwardResult(batch, seqLen, a.Logits, a.Hidden.AsMemory(0, n * Config.HiddenSize),
            a.Scores, a.ScoreIndex);
    }

    private void CheckInputs(ReadOnlySpan<int> tokens, ReadOnlySpan<int> mask, int batch, int seqLen)
    {
        if (batch <= 0 || seqLen <= 0)
            throw new ArgumentOutOfRangeException(nameof(batch), $"batch ({batch}) and seqLen ({seqLen}) must be positive");
        if (tokens.Length != batch * seqLen)
            throw new ArgumentException($"tokens has {tokens.Length} ids, expected batch*seqLen = {batch * seqLen}", nameof(tokens));
        if (!mask.IsEmpty && mask.Length != tokens.Length)
            throw new ArgumentException($"attentionMask has {mask.Length} entries, expected {tokens.Length}", nameof(mask));
        for (var i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens[i]} at row {i / seqLen}, position {i % seqLen} is outside the vocabulary [0, {Config.VocabSize})");
    }

    /// <summary>keyMask (B, T) 0/1; positions (B, T) = start[b] + cumsum(mask) - 1, clamped at start[b].</summary>
    private static void FillMaskAndPositions(ReadOnlySpan<int> mask, Span<int> keyMask, Span<int> positions, int b, int t, int[]? start)
    {
        for (var bi = 0; bi < b; bi++)
        {
            var count = start?[bi] ?? 0;
            for (var ti = 0; ti < t; ti++)
            {
                var i = bi * t + ti;
                var m = mask.IsEmpty ? 1 : mask[i] != 0 ? 1 : 0;
                keyMask[i] = m;
                positions[i] = Math.Max(count + m - 1, 0);
                count += m;
            }
            if (start is not null)
                start[bi] = count;
        }
    }

    /// <summary>x (N, C) = embedding rows of tokens (N).</summary>
    private void Embed(ReadOnlySpan<int> tokens, Span<float> x)
    {
        int c = Config.HiddenSize, v = Config.VocabSize;
        Embedding.Forward(x[..(tokens.Length * c)], tokens, P(_globals.Embed, (long)v * c), tokens.Length, c, v);
    }

    /// <summary>All layers; with a cache, keys/values go into it at [past, past + T).</summary>
    private void RunLayers(ActivationBuffers a, int b, int t, KvCache? cache)
    {
        var c = Config;
        int n = b * t, hid = c.HiddenSize, qd = c.NumHeads * c.HeadDim;
        var past = cache?.Length ?? 0;
        for (var l = 0; l < c.NumLayers; l++)
        {
            var li = a.Training ? l : 0;
            var s = _layers[l];
            var x = a.Resid[a.Training ? l : 0].AsSpan(0, n * hid);
            NormBlock.Forward(Rms, x, a.Ln1[li], a.Ln1Mean[li], a.Ln1Rstd[li], P(s.Ln1W, hid), P(s.Ln1B, hid), n, hid, (float)c.NormEps);
            Project(a.Qkv, a.Ln1[li], _inference?.Qkv[l], s.QkvW, P(s.QkvB, QkvWidth), n, hid, QkvWidth, a.Training);
            if (cache is null)
            {
                SplitHeads(a.Qkv, a.Q[li], a.K[li], a.V[li], b, t, 0, t);
                QkNormForward(a, l, li, a.Q[li], a.K[li], b, t, 0, t);
                Rope(a.Positions, a.Q[li], a.K[li], b, t, 0, t);
                Attention.Forward(a.Atty[li], a.Training ? a.Probs[li] : default, a.Q[li], a.K[li], a.V[li], a.KeyMask,
                    b, t, c.NumHeads, c.NumKvHeads, c.HeadDim);
            }
            else
            {
                SplitHeads(a.Qkv, a.Q[li], cache.K[l], cache.V[l], b, t, past, cache.Capacity);
                QkNormForward(a, l, li, a.Q[li], cache.K[l], b, t, past, cache.Capacity);
                Rope(a.Positions, a.Q[li], cache.K[l], b, t, past, cache.Capacity);
                Attention.ForwardCached(a.Atty[li], a.Q[li], cache.K[l], cache.V[l], cache.KeyMask, b, t, cache.Capacity, past,
                    c.NumHeads, c.NumKvHeads, c.HeadDim);
            }
            Project(a.BranchOut, a.Atty[li], _inference?.O[l], s.OW, P(s.OB, hid), n, qd, hid, a.Training);
            Span<float> output;
            if (c.UseParallelResidual)
            {
                // x + attn(ln1(x)) + mlp(ln2(x)): ln2 reads x before the sum overwrites it.
                output = a.Training ? a.Resid[l + 1] : x;
                NormBlock.Forward(Rms, x, a.Ln2[li], a.Ln2Mean[li], a.Ln2Rstd[li], P(s.Ln2W, hid), P(s.Ln2B, hid), n, hid, (float)c.NormEps);
                TensorPrimitives.Add(x, a.BranchOut, output);
            }
            else
            {
                var mid = a.Training ? a.Mid[li] : x;
                TensorPrimitives.Add(x, a.BranchOut, mid);
                NormBlock.Forward(Rms, mid, a.Ln2[li], a.Ln2Mean[li], a.Ln2Rstd[li], P(s.Ln2W, hid), P(s.Ln2B, hid), n, hid, (float)c.NormEps);
                output = a.Training ? a.Resid[l + 1] : x;
                if (a.Training)
                    mid.CopyTo(output);
            }
            Project(a.Pre[li], a.Ln2[li], _inference?.Up[l], s.UpW, P(s.UpB, UpWidth), n, hid, UpWidth, a.Training);
            MlpBlock.Forward(_act, Gated, a.Pre[li], a.H[li], n, c.IntermediateSize);
            Project(a.BranchOut, a.H[li], _inference?.Down[l], s.DownW, P(s.DownB, hid), n, c.IntermediateSize, hid, a.Training);
            TensorPrimitives.Add(output, a.BranchOut, output);
        }
    }

    /// <summary>
    /// qkv (N, Dqkv) -> q (N, nH, hd) and k, v rows (b, past + t) of (B, S, nKV, hd) (S = T without a
    /// cache). Rotary (and Qwen3's q/k norm before it) are applied afterwards in place.
    /// </summary>
    private unsafe void SplitHeads(ReadOnlySpan<float> qkv, Span<float> q, Span<float> k, Span<float> v, int b, int t, int past, int s)
    {
        int nH = Config.NumHeads, nKV = Config.NumKvHeads, hd = Config.HeadDim, w = QkvWidth, n = b * t;
        int qd = nH * hd, kvd = nKV * hd;
        fixed (float* pqkv = qkv, pq = q, pk = k, pv = v)
        {
            nint qkvP = (nint)pqkv, qP = (nint)pq, kP = (nint)pk, vP = (nint)pv;
            RowParallel.For(n, w, (lo, hi) =>
            {
                for (var i = lo; i < hi; i++)
                {
                    var row = new ReadOnlySpan<float>((float*)qkvP + (long)i * w, w);
                    var qRow = new Span<float>((float*)qP + (long)i * qd, qd);
                    long kvAt = ((long)(i / t) * s + past + i % t) * kvd;
                    var kRow = new Span<float>((float*)kP + kvAt, kvd);
                    var vRow = new Span<float>((float*)vP + kvAt, kvd);
                    for (var h = 0; h < nH; h++)
                        row.Slice(QkvColumn(0, h), hd).CopyTo(qRow.Slice(h * hd, hd));
                    for (var g = 0; g < nKV; g++)
                    {
                        row.Slice(QkvColumn(1, g), hd).CopyTo(kRow.Slice(g * hd, hd));
                        row.Slice(QkvColumn(2, g), hd).CopyTo(vRow.Slice(g * hd, hd));
                    }
                }
            });
        }
    }

    /// <summary>Rotary on q (N, nH, hd) and on the new keys of each row in k (B, S, nKV, hd), in place.</summary>
    private void Rope(ReadOnlySpan<int> positions, Span<float> q, Span<float> k, int b, int t, int past, int s)
    {
        if (_invFreq.Length == 0)
            return;
        int nH = Config.NumHeads, nKV = Config.NumKvHeads, hd = Config.HeadDim, n = b * t, qd = nH * hd, kvd = nKV * hd;
        var r = Config.RotaryDims;
        Rotary.Forward(q[..(n * qd)], q[..(n * qd)], positions[..n], _invFreq, n, nH, hd, r);
        for (var bi = 0; bi < b; bi++)
        {
            // The new keys of row bi are contiguous: (t, nKV, hd) at cache position past.
            var kb = k.Slice(((bi * s) + past) * kvd, t * kvd);
            Rotary.Forward(kb, kb, positions.Slice(bi * t, t), _invFreq, t, nKV, hd, r);
        }
    }

    /// <summary>
    /// Qwen3 (modeling_qwen3 Qwen3Attention): RMSNorm over head_dim of every q head (q_norm) and of
    /// every new k head (k_norm), in place, before RoPE. Training keeps the inputs and rstd.
    /// q (N, nH, hd); k (B, S, nKV, hd) with the new keys of row b at [past, past + t).
    /// </summary>
    private void QkNormForward(ActivationBuffers a, int l, int li, Span<float> q, Span<float> k, int b, int t, int past, int s)
    {
        var c = Config;
        if (!c.QkNorm)
            return;
        int hd = c.HeadDim, n = b * t, qRows = n * c.NumHeads, kvd = c.NumKvHeads * hd;
        var eps = (float)c.NormEps;
        var sl = _layers[l];
        var keep = a.Training;
        if (keep)
            q[..(qRows * hd)].CopyTo(a.QPre[li]);
        RmsNorm.Forward(q[..(qRows * hd)], keep ? a.QRstd[li] : default, q[..(qRows * hd)], P(sl.QNormW, hd), qRows, hd, eps);
        for (var bi = 0; bi < b; bi++)
        {
            var rows = t * c.NumKvHeads;
            var kb = k.Slice((bi * s + past) * kvd, t * kvd);
            if (keep)
                kb.CopyTo(a.KPre[li].AsSpan(bi * t * kvd));
            RmsNorm.Forward(kb, keep ? a.KRstd[li].AsSpan(bi * rows, rows) : default, kb, P(sl.KNormW, hd), rows, hd, eps);
        }
    }

    /// <summary>Final norm into Hidden, then the head (all positions, or only <paramref name="lastOnly"/> rows' last token).</summary>
    private void FinalNormAndHead(ActivationBuffers a, int b, int t, ReadOnlySpan<int> mask, Span<float> lastOnly)
    {
        var c = Config;
        int n = b * t, hid = c.HiddenSize;
        var x = a.Resid[a.Training ? c.NumLayers : 0].AsSpan(0, n * hid);
        NormBlock.Forward(Rms, x, a.Hidden, a.FinalMean, a.FinalRstd, P(_globals.NormW, hid), P(_globals.NormB, hid), n, hid, (float)c.NormEps);
        if (c.Head == ModelHead.CausalLm)
        {
            var w = P(_globals.HeadW, (long)c.VocabSize * hid);
            var stored = a.Training ? null : _inference?.Head;
            if (lastOnly.IsEmpty)
            {
                Project(a.Logits, a.Hidden, stored, _globals.HeadW, default, n, hid, c.VocabSize, a.Training);
                return;
            }
            // Last position of each row only (generation): (B, C) rows at stride T -> (B, V).
            if (stored is not null)
                Gemm.Sgemm(b, 1f, a.Hidden.AsSpan((t - 1) * hid), t * hid, stored, 0f, lastOnly, c.VocabSize);
            else
                Gemm.Sgemm(false, true, b, c.VocabSize, hid, 1f, a.Hidden.AsSpan((t - 1) * hid), t * hid, w, hid, 0f, lastOnly, c.VocabSize);
            return;
        }
        ScorePositions(a.Tokens, mask, a.ScoreIndex, b, t);
        var sw = P(_globals.HeadW, (long)c.NumLabels * hid);
        for (var bi = 0; bi < b; bi++)
        {
            var h = a.Hidden.AsSpan((bi * t + a.ScoreIndex[bi]) * hid, hid);
            for (var l = 0; l < c.NumLabels; l++)
                a.Scores[bi * c.NumLabels + l] = TensorPrimitives.Dot(h, sw.Slice(l * hid, hid)) + (_globals.HeadB >= 0 ? Parameters[_globals.HeadB + l] : 0);
        }
    }

    /// <summary>
    /// Rightmost position whose token is not pad_token_id (HF *ForSequenceClassification, works for
    /// left and right padding). Without a pad id: rightmost mask == 1 (our extension), or T-1.
    /// </summary>
    private void ScorePositions(ReadOnlySpan<int> tokens, ReadOnlySpan<int> mask, Span<int> index, int b, int t)
    {
        var pad = Config.Head == ModelHead.OpenAssistantReward ? null : Config.PadTokenId;
        if (pad is null && mask.IsEmpty && b > 1)
            throw new InvalidOperationException("the config has no pad_token_id and no attention mask was given: sequence scores need batch size 1");
        for (var bi = 0; bi < b; bi++)
        {
            if (pad is null && mask.IsEmpty)
            {
                index[bi] = t - 1;
                continue;
            }
            var idx = 0;
            for (var ti = t - 1; ti >= 0; ti--)
            {
                var real = pad is { } p ? tokens[bi * t + ti] != p : mask[bi * t + ti] != 0;
                if (real)
                {
                    idx = ti;
                    break;
                }
            }
            index[bi] = idx;
        }
    }
}
