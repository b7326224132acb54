using System.Numerics.Tensors;
using R2M.Alignment.Internal;
using R2M.Tensors;
using Rng = R2M.Alignment.Internal.Rng;

namespace R2M.Alignment;

/// <summary>
/// The R2M reward head (R2M-METHOD.md section 2): sequence-to-token cross-attention from the reward
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
    /// cross-attention weights drawn N(0, initStd^2) from <paramref name="seed"/> (paper: fresh, small random).
    /// </summary>
    public void Initialize(ReadOnlySpan<float> phiWeight, float phiBias, ulong seed, float initStd = 0.02f)
    {
        if (phiWeight.Length != _dRm)
            throw new ArgumentException($"phi weight has {phiWeight.Length} values, expected D_rm = {_dRm}", nameof(phiWeight));
        if (!Finite(phiWeight) || !float.IsFinite(phiBias)) throw new ArgumentException("phi weight/bias contain NaN or Inf", nameof(phiWeight));
        if (!Config.PhiBias && phiBias != 0f) throw new ArgumentException("phi bias given but the head has no bias", nameof(phiBias));
        var rng = new Rng(seed);
        for (int i = 0; i < PhiOffset; i++) Parameters[i] = (float)(rng.NextGaussian() * initStd);
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
    /// </summary>
    public R2MHeadActivations Forward(IReadOnlyList<RewardInput> batch, float omega, Span<float> rewards, bool keepHiddenGrad = false)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (!(omega >= 0f && omega <= 1f)) throw new ArgumentOutOfRangeException(nameof(omega), omega, "omega must be in [0, 1]");
        if (rewards.Length != batch.Count) throw new ArgumentException($"rewards has {rewards.Length} slots for {batch.Count} items", nameof(rewards));
        for (int i = 0; i < batch.Count; i++) Validate(batch[i], i, omega < 1f);
        var acts = new R2MHeadActivations(omega, batch.Count, keepHiddenGrad);
        for (int i = 0; i < batch.Count; i++) rewards[i] = ForwardItem(batch[i], omega, acts.Items[i] = new ItemActs());
        return acts;
    }

    /// <summary>Backward: accumulates d(loss)/d(params) into <see cref="Gradients"/> from dRewards (B).</summary>
    public void Backward(R2MHeadActivations acts, ReadOnlySpan<float> dRewards)
    {
        ArgumentNullException.ThrowIfNull(acts);
        if (dRewards.Length != acts.Items.Length) throw new ArgumentException($"dRewards has {dRewards.Length} values for {acts.Items.Length} items", nameof(dRewards));
        if (!Finite(dRewards)) throw new ArgumentException("dRewards contains NaN or Inf", nameof(dRewards));
        for (int i = 0; i < acts.Items.Length; i++) BackwardItem(acts.Items[i], acts.Omega, dRewards[i], acts.KeepHiddenGrad);
    }

    private void Validate(RewardInput x, int index, bool needFeedback)
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

    private float ForwardItem(RewardInput x, float omega, ItemActs a)
    {
        a.Rte = x.Rte;
        if (omega == 1f)
        {
            // Exact vanilla path: H_fin = H_last, r = phi(H_last), no attention arithmetic at all.
            a.HFin = x.Rte.ToArray();
            return VanillaScore(x.Rte.Span);
        }
        a.Rows = x.Rows;
        a.Valid = ValidRows(x);
        int n = a.Valid.Length;
        a.Hc = Gather(x, a.Valid);
        a.Q = new float[_d];
        MatOps.VecMatAdd(x.Rte.Span, P("r2m.w_q"), _dRm, _d, a.Q);
        a.K = new float[n * _d];
        a.V = new float[n * _d];
        MatOps.MatMul(a.Hc, P("r2m.w_k"), n, _dP, _d, a.K);
        MatOps.MatMul(a.Hc, P("r2m.w_v"), n, _dP, _d, a.V);
        a.Probs = new float[_heads * n];
        a.C = new float[_d];
        for (int hd = 0; hd < _heads; hd++) AttendHead(a, hd, n);
        var hHat = new float[_dRm];
        MatOps.VecMatAdd(a.C, P("r2m.w_o"), _d, _dRm, hHat);
        a.HFin = new float[_dRm];
        // H_fin = omega H_last + (1 - omega) Ĥ
        TensorPrimitives.Multiply(hHat, 1f - omega, a.HFin);
        TensorPrimitives.MultiplyAdd(x.Rte.Span, omega, a.HFin, a.HFin);
        return TensorPrimitives.Dot(P("phi.weight"), a.HFin) + PhiBias;
    }

    private void AttendHead(ItemActs a, int hd, int n)
    {
        var q = a.Q.AsSpan(hd * _dh, _dh);
        var p = a.Probs.AsSpan(hd * n, n);
        for (int j = 0; j < n; j++) p[j] = TensorPrimitives.Dot(q, a.K.AsSpan(j * _d + hd * _dh, _dh)) * _scale;
        StableSoftmax.InPlace(p);
        var c = a.C.AsSpan(hd * _dh, _dh);
        for (int j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(a.V.AsSpan(j * _d + hd * _dh, _dh), p[j], c, c);
    }

    private void BackwardItem(ItemActs a, float omega, float dr, bool keepHiddenGrad)
    {
        var gPhi = G("phi.weight");
        TensorPrimitives.MultiplyAdd(a.HFin, dr, gPhi, gPhi);
        if (Config.PhiBias) Gradients[^1] += dr;
        if (omega == 1f) return; // attention never ran; its parameters have zero gradient
        int n = a.Valid.Length;
        var dHat = new float[_dRm];
        TensorPrimitives.Multiply(P("phi.weight"), dr * (1f - omega), dHat);
        MatOps.OuterAdd(a.C, dHat, _d, _dRm, G("r2m.w_o"));
        var dc = new float[_d];
        MatOps.MatVec(P("r2m.w_o"), _d, _dRm, dHat, dc);
        var dq = new float[_d];
        var dK = new float[n * _d];
        var dV = new float[n * _d];
        var dp = new float[n];
        for (int hd = 0; hd < _heads; hd++)
        {
            var p = a.Probs.AsSpan(hd * n, n);
            var dch = dc.AsSpan(hd * _dh, _dh);
            for (int j = 0; j < n; j++)
            {
                dp[j] = TensorPrimitives.Dot(dch, a.V.AsSpan(j * _d + hd * _dh, _dh));
                var dvj = dV.AsSpan(j * _d + hd * _dh, _dh);
                TensorPrimitives.MultiplyAdd(dch, p[j], dvj, dvj);
            }
            // softmax backward: ds_j = p_j (dp_j - sum_k p_k dp_k), then the 1/sqrt(d_head) scale
            float dot = TensorPrimitives.Dot(p, dp.AsSpan(0, n));
            var q = a.Q.AsSpan(hd * _dh, _dh);
            var dqh = dq.AsSpan(hd * _dh, _dh);
            for (int j = 0; j < n; j++)
            {
                float ds = p[j] * (dp[j] - dot) * _scale;
                TensorPrimitives.MultiplyAdd(a.K.AsSpan(j * _d + hd * _dh, _dh), ds, dqh, dqh);
                var dkj = dK.AsSpan(j * _d + hd * _dh, _dh);
                TensorPrimitives.MultiplyAdd(q, ds, dkj, dkj);
            }
        }
        MatOps.OuterAdd(a.Rte.Span, dq, _dRm, _d, G("r2m.w_q"));
        MatOps.MatTMatAdd(a.Hc, dK, n, _dP, _d, G("r2m.w_k"));
        MatOps.MatTMatAdd(a.Hc, dV, n, _dP, _d, G("r2m.w_v"));
        if (keepHiddenGrad) a.DHidden = HiddenGrad(a, dK, dV);
    }

    private float[] HiddenGrad(ItemActs a, float[] dK, float[] dV)
    {
        int n = a.Valid.Length;
        var dhc = new float[n * _dP];
        MatOps.MatMatTAdd(dK, P("r2m.w_k"), n, _d, _dP, dhc);
        MatOps.MatMatTAdd(dV, P("r2m.w_v"), n, _d, _dP, dhc);
        var dh = new float[a.Rows * _dP]; // padding rows get zero gradient
        for (int j = 0; j < n; j++) dhc.AsSpan(j * _dP, _dP).CopyTo(dh.AsSpan(a.Valid[j] * _dP, _dP));
        return dh;
    }

    private static int[] ValidRows(RewardInput x)
    {
        var mask = x.Mask.Span;
        if (mask.IsEmpty) return Enumerable.Range(0, x.Rows).ToArray();
        var list = new List<int>(x.Rows);
        for (int r = 0; r < x.Rows; r++) if (mask[r]) list.Add(r);
        return [.. list];
    }

    private float[] Gather(RewardInput x, int[] valid)
    {
        var h = x.Hidden.Span;
        var hc = new float[valid.Length * _dP];
        for (int j = 0; j < valid.Length; j++) h.Slice(valid[j] * _dP, _dP).CopyTo(hc.AsSpan(j * _dP, _dP));
        return hc;
    }

    internal static bool Finite(ReadOnlySpan<float> x)
    {
        foreach (var v in x) if (!float.IsFinite(v)) return false;
        return true;
    }

    internal sealed class ItemActs
    {
        public ReadOnlyMemory<float> Rte;
        public int Rows;
        public int[] Valid = [];
        public float[] Hc = [], Q = [], K = [], V = [], Probs = [], C = [], HFin = [];
        public float[]? DHidden;
    }
}

/// <summary>Activations of one <see cref="R2MHead.Forward"/> call, consumed by Backward.</summary>
public sealed class R2MHeadActivations
{
    internal R2MHeadActivations(float omega, int count, bool keepHiddenGrad)
    {
        Omega = omega;
        Items = new R2MHead.ItemActs[count];
        KeepHiddenGrad = keepHiddenGrad;
    }

    internal R2MHead.ItemActs[] Items { get; }

    /// <summary>omega used by the forward pass.</summary>
    public float Omega { get; }

    internal bool KeepHiddenGrad { get; }

    /// <summary>d(loss)/d(h) of item i ((rows, D_p)) after Backward, when requested in Forward; zero for padding rows; null on the omega == 1 path.</summary>
    public float[]? HiddenGradient(int item) => Items[item].DHidden;
}
