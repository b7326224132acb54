using System.Numerics.Tensors;
using R2M.Tensors;

namespace R2M.Alignment;

/// <summary>
/// The R2M reward head (docs/method.md section 2): sequence-to-token cross-attention from the reward
/// token embedding H_last to the policy feedback h, the omega(t) mix, and the linear scoring head phi.
/// Parameters, gradients (and, in <see cref="AdamWOptimizer"/>, both moments) are each one contiguous buffer
/// laid out by <see cref="Layout"/>: r2m.w_q (D_rm,d), r2m.w_k (D_p,d), r2m.w_v (D_p,d),
/// r2m.w_o (d,D_rm), then phi.weight (D_rm) and phi.bias (1, only with a bias) last, so "phi only"
/// (the Iterative RM_Head ablation) is the tail of the buffer starting at <see cref="PhiOffset"/>.
/// Not thread-safe: one trainer owns one head.
/// </summary>
public sealed class R2MHead
{
    private readonly int _dRm, _dP, _d, _heads, _dh;
    private readonly float _scale;

    public R2MHead(R2MHeadConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        (_dRm, _dP, _d, _heads) = (config.RmDim, config.PolicyDim, config.AttnDim, config.Heads);
        _dh = _d / _heads;
        // Scaled dot product per head: 1/sqrt(d_head); with one head this is the paper's 1/sqrt(d).
        _scale = 1f / MathF.Sqrt(_dh);
        Layout = new TensorLayout();
        Layout.Add("r2m.w_q", _dRm, _d);
        Layout.Add("r2m.w_k", _dP, _d);
        Layout.Add("r2m.w_v", _dP, _d);
        Layout.Add("r2m.w_o", _d, _dRm);
        PhiOffset = (int)Layout.Add("phi.weight", _dRm).Offset;
        if (config.PhiBias) Layout.Add("phi.bias", 1);
        Parameters = Layout.Allocate();
        Gradients = Layout.Allocate();
    }

    public R2MHeadConfig Config { get; }

    /// <summary>Named views into <see cref="Parameters"/> / <see cref="Gradients"/>.</summary>
    public TensorLayout Layout { get; }

    /// <summary>Flat parameters (Layout.TotalSize).</summary>
    public float[] Parameters { get; }

    /// <summary>Flat gradients (Layout.TotalSize); Backward accumulates, <see cref="ZeroGrad"/> clears.</summary>
    public float[] Gradients { get; }

    /// <summary>Offset of phi.weight: [PhiOffset, TotalSize) is the scoring head.</summary>
    public int PhiOffset { get; }

    private ReadOnlySpan<float> P(string name) => Layout.View(Parameters, name);
    private Span<float> G(string name) => Layout.View(Gradients, name);
    private float PhiBias => Config.PhiBias ? Parameters[^1] : 0f;

    /// <summary>
    /// phi from the pretrained RM's scoring head (phiWeight (D_rm), e.g. HF score.weight[0]);
    /// cross-attention weights drawn from <paramref name="seed"/> with <see cref="CrossAttentionInit.Default"/>
    /// (PyTorch nn.Linear's default; paper: fresh, small random).
    /// </summary>
    public void Initialize(ReadOnlySpan<float> phiWeight, float phiBias, ulong seed) =>
        Initialize(phiWeight, phiBias, seed, CrossAttentionInit.Default);

    /// <summary>As <see cref="Initialize(ReadOnlySpan{float}, float, ulong)"/> with every cross-attention weight N(0, initStd^2) (the pre-issue-15 init at 0.02).</summary>
    public void Initialize(ReadOnlySpan<float> phiWeight, float phiBias, ulong seed, float initStd) =>
        Initialize(phiWeight, phiBias, seed, CrossAttentionInit.NormalStd(initStd));

    /// <summary>phi from the pretrained RM's scoring head; W_q, W_k, W_v, W_o drawn from <paramref name="seed"/> as <paramref name="init"/> says, in that order.</summary>
    public void Initialize(ReadOnlySpan<float> phiWeight, float phiBias, ulong seed, CrossAttentionInit init)
    {
        ArgumentNullException.ThrowIfNull(init);
        init.Validate();
        if (phiWeight.Length != _dRm)
            throw new ArgumentException($"phi weight has {phiWeight.Length} values, expected D_rm = {_dRm}", nameof(phiWeight));
        if (!Finite(phiWeight) || !float.IsFinite(phiBias)) throw new ArgumentException("phi weight/bias contain NaN or Inf", nameof(phiWeight));
        if (!Config.PhiBias && phiBias != 0f) throw new ArgumentException("phi bias given but the head has no bias", nameof(phiBias));
        var rng = new Rng(seed);
        if (init.Kind == CrossAttentionInitKind.Normal)
        {
            rng.FillNormal(Parameters.AsSpan(0, PhiOffset), 0f, init.Scale);
        }
        else
        {
            foreach (var (name, fanIn) in new[] { ("r2m.w_q", _dRm), ("r2m.w_k", _dP), ("r2m.w_v", _dP), ("r2m.w_o", _d) })
            {
                float bound = init.Scale / MathF.Sqrt(fanIn);
                rng.FillUniform(Layout.View(Parameters, name), -bound, bound);
            }
        }
        phiWeight.CopyTo(Parameters.AsSpan(PhiOffset, _dRm));
        if (Config.PhiBias) Parameters[^1] = phiBias;
        ZeroGrad();
    }

    /// <summary>Clears the gradient buffer.</summary>
    public void ZeroGrad() => Array.Clear(Gradients);

    /// <summary>The vanilla RM score phi(H_last). The omega == 1 path of the head computes exactly this.</summary>
    public float VanillaScore(ReadOnlySpan<float> rte)
    {
        if (rte.Length != _dRm) throw new ArgumentException($"RTE has {rte.Length} values, expected D_rm = {_dRm}", nameof(rte));
        return TensorPrimitives.Dot(P("phi.weight"), rte) + PhiBias;
    }

    /// <summary>Scores one item without keeping activations.</summary>
    public float Score(RewardInput input, float omega)
    {
        Span<float> r = stackalloc float[1];
        Forward([input], omega, r);
        return r[0];
    }

    /// <summary>
    /// Forward over a batch: rewards (B) = phi(omega H_last + (1 - omega) Ĥ). Every input is checked
    /// (shapes, finite values, at least one unmasked row when omega &lt; 1) before anything is computed.
    /// With omega == 1 the attention is skipped, so the score is bit-identical to <see cref="VanillaScore"/>.
    /// The projections of all items run as one GEMM each over the packed real rows (N = sum of real rows).
    /// </summary>
    public R2MHeadActivations Forward(IReadOnlyList<RewardInput> batch, float omega, Span<float> rewards, bool keepHiddenGrad = false)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!(omega >= 0f && omega <= 1f)) throw new ArgumentOutOfRangeException(nameof(omega), omega, "omega must be in [0, 1]");
        if (rewards.Length != batch.Count) throw new ArgumentException($"rewards has {rewards.Length} slots for {batch.Count} items", nameof(rewards));
        ValidateBatch(batch, omega < 1f);
        var a = new R2MHeadActivations(omega, batch.Count, _dRm, keepHiddenGrad);
        for (int i = 0; i < batch.Count; i++) batch[i].Rte.Span.CopyTo(a.Rte.AsSpan(i * _dRm, _dRm));
        if (omega == 1f)
        {
            // Exact vanilla path: H_fin = H_last, r = phi(H_last), no attention arithmetic at all.
            a.HFin = a.Rte;
            for (int i = 0; i < batch.Count; i++) rewards[i] = VanillaScore(batch[i].Rte.Span);
            return a;
        }
        Pack(batch, a);
        AttentionForward(a);
        var hHat = a.HHat = new float[a.Batch * _dRm];
        Mm(false, false, a.Batch, _dRm, _d, a.C, _d, P("r2m.w_o"), _dRm, 0f, hHat, _dRm); // Ĥ (B,D_rm) = C (B,d) W_o (d,D_rm)
        a.HFin = new float[a.Batch * _dRm];
        // H_fin = omega H_last + (1 - omega) Ĥ
        TensorPrimitives.Multiply(hHat, 1f - omega, a.HFin);
        TensorPrimitives.MultiplyAdd(a.Rte, omega, a.HFin, a.HFin);
        for (int i = 0; i < a.Batch; i++) rewards[i] = TensorPrimitives.Dot(P("phi.weight"), a.HFin.AsSpan(i * _dRm, _dRm)) + PhiBias;
        return a;
    }

    /// <summary>
    /// The reward of each item split into its two paths, as <see cref="Forward"/> computes it:
    /// basePart (B) = omega phi·H_last + b (the vanilla path, weighted) and fusedPart (B) =
    /// (1 - omega) phi·Ĥ (the cross-attention path). basePart + fusedPart is the reward up to float
    /// rounding; at omega == 1 fusedPart is exactly 0. For diagnostics such as the fused path's share
    /// of reward variance; keeps no activations.
    /// </summary>
    public void ScoreParts(IReadOnlyList<RewardInput> batch, float omega, Span<float> basePart, Span<float> fusedPart)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (basePart.Length != batch.Count || fusedPart.Length != batch.Count)
            throw new ArgumentException($"basePart has {basePart.Length} and fusedPart {fusedPart.Length} slots for {batch.Count} items");
        var rewards = new float[batch.Count];
        var a = Forward(batch, omega, rewards);
        var phi = P("phi.weight");
        for (int i = 0; i < batch.Count; i++)
        {
            basePart[i] = omega * TensorPrimitives.Dot(phi, a.Rte.AsSpan(i * _dRm, _dRm)) + PhiBias;
            fusedPart[i] = omega == 1f ? 0f : (1f - omega) * TensorPrimitives.Dot(phi, a.HHat.AsSpan(i * _dRm, _dRm));
        }
    }

    /// <summary>Backward: accumulates d(loss)/d(params) into <see cref="Gradients"/> from dRewards (B).</summary>
    public void Backward(R2MHeadActivations acts, ReadOnlySpan<float> dRewards)
    {
        ArgumentNullException.ThrowIfNull(acts);
        if (dRewards.Length != acts.Batch) throw new ArgumentException($"dRewards has {dRewards.Length} values for {acts.Batch} items", nameof(dRewards));
        if (!Finite(dRewards)) throw new ArgumentException("dRewards contains NaN or Inf", nameof(dRewards));
        if (acts.Rte.Length != acts.Batch * _dRm) throw new ArgumentException("activations come from a head of another shape", nameof(acts));
        var gPhi = G("phi.weight");
        for (int i = 0; i < acts.Batch; i++)
        {
            TensorPrimitives.MultiplyAdd(acts.HFin.AsSpan(i * _dRm, _dRm), dRewards[i], gPhi, gPhi);
            if (Config.PhiBias) Gradients[^1] += dRewards[i];
        }
        if (acts.Omega == 1f) return; // attention never ran; its parameters have zero gradient
        // dĤ (B,D_rm) = dr (1 - omega) phi
        var dHat = new float[acts.Batch * _dRm];
        for (int i = 0; i < acts.Batch; i++) TensorPrimitives.Multiply(P("phi.weight"), dRewards[i] * (1f - acts.Omega), dHat.AsSpan(i * _dRm, _dRm));
        Mm(true, false, _d, _dRm, acts.Batch, acts.C, _d, dHat, _dRm, 1f, G("r2m.w_o"), _dRm);  // dW_o += C^T dĤ
        var dc = new float[acts.Batch * _d];
        Mm(false, true, acts.Batch, _d, _dRm, dHat, _dRm, P("r2m.w_o"), _dRm, 0f, dc, _d);    // dC = dĤ W_o^T
        AttentionBackward(acts, dc, out var dq, out var dK, out var dV);
        Mm(true, false, _dRm, _d, acts.Batch, acts.Rte, _dRm, dq, _d, 1f, G("r2m.w_q"), _d);  // dW_q += H_last^T dQ
        Mm(true, false, _dP, _d, acts.Rows, acts.Hc, _dP, dK, _d, 1f, G("r2m.w_k"), _d);      // dW_k += Hc^T dK
        Mm(true, false, _dP, _d, acts.Rows, acts.Hc, _dP, dV, _d, 1f, G("r2m.w_v"), _d);      // dW_v += Hc^T dV
        if (acts.KeepHiddenGrad) HiddenGrad(acts, dK, dV);
    }

    /// <summary>Gathers the real rows of every item into Hc (N,D_p) and projects Q (B,d), K (N,d), V (N,d).</summary>
    private void Pack(IReadOnlyList<RewardInput> batch, R2MHeadActivations a)
    {
        a.Valid = new int[a.Batch][];
        a.ItemRows = new int[a.Batch];
        a.Start = new int[a.Batch + 1];
        for (int i = 0; i < a.Batch; i++)
        {
            a.ItemRows[i] = batch[i].Rows;
            a.Valid[i] = ValidRows(batch[i]);
            a.Start[i + 1] = a.Start[i] + a.Valid[i].Length;
        }
        a.Hc = new float[a.Rows * _dP];
        for (int i = 0; i < a.Batch; i++)
        {
            var h = batch[i].Hidden.Span;
            var valid = a.Valid[i];
            for (int j = 0; j < valid.Length; j++) h.Slice(valid[j] * _dP, _dP).CopyTo(a.Hc.AsSpan((a.Start[i] + j) * _dP, _dP));
        }
        a.Q = new float[a.Batch * _d];
        a.K = new float[a.Rows * _d];
        a.V = new float[a.Rows * _d];
        Mm(false, false, a.Batch, _d, _dRm, a.Rte, _dRm, P("r2m.w_q"), _d, 0f, a.Q, _d); // Q = H_last W_q
        Mm(false, false, a.Rows, _d, _dP, a.Hc, _dP, P("r2m.w_k"), _d, 0f, a.K, _d);     // K = Hc W_k
        Mm(false, false, a.Rows, _d, _dP, a.Hc, _dP, P("r2m.w_v"), _d, 0f, a.V, _d);     // V = Hc W_v
    }

    /// <summary>
    /// Per item i and head: probs (n_i) = softmax(K_i,h q_i,h / sqrt(d_head)), C_i,h (d_head) = probs V_i,h.
    /// Probs (heads, N): head hd of item i at [hd N + Start_i, + n_i). These are single-query products
    /// of a few hundred rows, so they run as row dots / AXPYs: a GEMM call per (item, head) costs more
    /// in dispatch than the arithmetic.
    /// </summary>
    private void AttentionForward(R2MHeadActivations a)
    {
        a.Probs = new float[_heads * a.Rows];
        a.C = new float[a.Batch * _d];
        for (int i = 0; i < a.Batch; i++)
        {
            int s = a.Start[i], n = a.Start[i + 1] - s;
            for (int hd = 0; hd < _heads; hd++)
            {
                int o = hd * _dh;
                var q = a.Q.AsSpan(i * _d + o, _dh);
                var p = a.Probs.AsSpan(hd * a.Rows + s, n);
                for (int j = 0; j < n; j++) p[j] = TensorPrimitives.Dot(q, a.K.AsSpan((s + j) * _d + o, _dh)) * _scale;
                Softmax.Forward(p, p, 1, n);
                var c = a.C.AsSpan(i * _d + o, _dh);
                for (int j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(a.V.AsSpan((s + j) * _d + o, _dh), p[j], c, c);
            }
        }
    }

    /// <summary>From dC (B,d): dQ (B,d), dK (N,d), dV (N,d) of the attention step (softmax backward through the shared kernel).</summary>
    private void AttentionBackward(R2MHeadActivations a, float[] dc, out float[] dq, out float[] dK, out float[] dV)
    {
        dq = new float[a.Batch * _d];
        dK = new float[a.Rows * _d];
        dV = new float[a.Rows * _d];
        var dp = new float[a.Rows];
        var ds = new float[a.Rows];
        for (int i = 0; i < a.Batch; i++)
        {
            int s = a.Start[i], n = a.Start[i + 1] - s;
            for (int hd = 0; hd < _heads; hd++)
            {
                int o = hd * _dh;
                var p = a.Probs.AsSpan(hd * a.Rows + s, n);
                var dch = dc.AsSpan(i * _d + o, _dh);
                for (int j = 0; j < n; j++)
                {
                    dp[j] = TensorPrimitives.Dot(dch, a.V.AsSpan((s + j) * _d + o, _dh)); // dp = dC_h V_h^T
                    var dvj = dV.AsSpan((s + j) * _d + o, _dh);
                    TensorPrimitives.MultiplyAdd(dch, p[j], dvj, dvj);                      // dV_h += p^T dC_h
                }
                var dsi = ds.AsSpan(0, n);
                dsi.Clear();
                Softmax.Backward(dsi, dp.AsSpan(0, n), p, 1, n);
                TensorPrimitives.Multiply(dsi, _scale, dsi);
                var q = a.Q.AsSpan(i * _d + o, _dh);
                var dqh = dq.AsSpan(i * _d + o, _dh);
                for (int j = 0; j < n; j++)
                {
                    TensorPrimitives.MultiplyAdd(a.K.AsSpan((s + j) * _d + o, _dh), dsi[j], dqh, dqh); // dq_h = ds K_h
                    var dkj = dK.AsSpan((s + j) * _d + o, _dh);
                    TensorPrimitives.MultiplyAdd(q, dsi[j], dkj, dkj);                           // dK_h += ds^T q_h
                }
            }
        }
    }

    /// <summary>dh (rows_i, D_p) per item = dK W_k^T + dV W_v^T scattered back to the real rows; padding rows get zero.</summary>
    private void HiddenGrad(R2MHeadActivations a, float[] dK, float[] dV)
    {
        var dhc = new float[a.Rows * _dP];
        Mm(false, true, a.Rows, _dP, _d, dK, _d, P("r2m.w_k"), _d, 0f, dhc, _dP);
        Mm(false, true, a.Rows, _dP, _d, dV, _d, P("r2m.w_v"), _d, 1f, dhc, _dP);
        a.DHidden = new float[a.Batch][];
        for (int i = 0; i < a.Batch; i++)
        {
            var dh = a.DHidden[i] = new float[a.ItemRows[i] * _dP];
            var valid = a.Valid[i];
            for (int j = 0; j < valid.Length; j++) dhc.AsSpan((a.Start[i] + j) * _dP, _dP).CopyTo(dh.AsSpan(valid[j] * _dP, _dP));
        }
    }

    /// <summary>C (m,n) = op(A) op(B) + beta C, row-major, through the shared GEMM (OpenBLAS or the managed kernel).</summary>
    private static void Mm(bool ta, bool tb, int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// Throws a clear ArgumentException for the first bad item (shapes, NaN/Inf in H_last or a real
    /// hidden row, no real row when the feedback is needed); computes nothing.
    /// </summary>
    internal void ValidateBatch(IReadOnlyList<RewardInput> batch, bool needFeedback)
    {
        for (int i = 0; i < batch.Count; i++) Validate(batch[i], i, needFeedback);
    }

    internal void Validate(RewardInput x, int index, bool needFeedback)
    {
        if (x is null) throw new ArgumentException($"item {index} is null");
        if (x.Rte.Length != _dRm) throw new ArgumentException($"item {index}: RTE has {x.Rte.Length} values, expected D_rm = {_dRm}");
        if (!Finite(x.Rte.Span)) throw new ArgumentException($"item {index}: RTE (H_last) contains NaN or Inf");
        if (x.Rows < 0 || x.Hidden.Length != x.Rows * _dP)
            throw new ArgumentException($"item {index}: hidden states have {x.Hidden.Length} values, expected rows {x.Rows} x D_p {_dP}");
        if (!x.Mask.IsEmpty && x.Mask.Length != x.Rows)
            throw new ArgumentException($"item {index}: mask has {x.Mask.Length} entries for {x.Rows} hidden rows");
        int valid = 0;
        var h = x.Hidden.Span;
        var mask = x.Mask.Span;
        for (int r = 0; r < x.Rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            valid++;
            if (!Finite(h.Slice(r * _dP, _dP))) throw new ArgumentException($"item {index}: hidden states row {r} contains NaN or Inf");
        }
        if (needFeedback && valid == 0)
            throw new ArgumentException($"item {index}: every hidden-state row is padding (rows = {x.Rows}); cross-attention needs at least one real token");
    }

    private static int[] ValidRows(RewardInput x)
    {
        var mask = x.Mask.Span;
        if (mask.IsEmpty) return Enumerable.Range(0, x.Rows).ToArray();
        var list = new List<int>(x.Rows);
        for (int r = 0; r < x.Rows; r++) if (mask[r]) list.Add(r);
        return [.. list];
    }

    internal static bool Finite(ReadOnlySpan<float> x) => x.IsEmpty || TensorPrimitives.IsFiniteAll(x);
}

/// <summary>
/// Activations of one <see cref="R2MHead.Forward"/> call, consumed by Backward. Buffers are packed
/// over the batch: Rte, HFin, HHat (B,D_rm); Q, C (B,d); Hc (N,D_p); K, V (N,d); Probs (heads,N), where
/// item i owns packed rows [Start_i, Start_i+1) (its real, unmasked rows in order).
/// </summary>
public sealed class R2MHeadActivations
{
    internal R2MHeadActivations(float omega, int batch, int dRm, bool keepHiddenGrad)
    {
        Omega = omega;
        Batch = batch;
        KeepHiddenGrad = keepHiddenGrad;
        Rte = new float[batch * dRm];
    }

    /// <summary>omega used by the forward pass.</summary>
    public float Omega { get; }

    internal int Batch { get; }
    internal bool KeepHiddenGrad { get; }
    internal float[] Rte { get; }
    internal float[] HFin = [], Hc = [], Q = [], K = [], V = [], Probs = [], C = [], HHat = [];
    internal int[][] Valid = [];
    internal int[] ItemRows = [], Start = [0];
    internal float[][]? DHidden;

    /// <summary>N: real rows over the whole batch.</summary>
    internal int Rows => Start[^1];

    /// <summary>d(loss)/d(h) of item i ((rows, D_p)) after Backward, when requested in Forward; zero for padding rows; null on the omega == 1 path.</summary>
    public float[]? HiddenGradient(int item) => DHidden?[item];
}
