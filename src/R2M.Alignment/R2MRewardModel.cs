using R2M.Tensors;

namespace R2M.Alignment;

/// <summary>Reward-model side options (docs/method.md sections 2-4).</summary>
/// <param name="TotalSteps">T of omega(t).</param>
/// <param name="OmegaFloor">Omega (paper 0.6-0.7).</param>
/// <param name="GradClip">Global-norm clip of the head's gradient (&lt;= 0: none).</param>
public sealed record RewardModelOptions(
    AlignmentVariant Variant = AlignmentVariant.R2M,
    long TotalSteps = 100,
    float OmegaFloor = 0.6f,
    GrebtOptions? Grebt = null,
    AdamWOptions? Optimizer = null,
    float GradClip = 1f,
    ulong NoiseSeed = 0x5EED)
{
    public GrebtOptions GrebtOrDefault => Grebt ?? new GrebtOptions();

    /// <summary>RM learning rate default 1e-6 (paper, dialogue).</summary>
    public AdamWOptions OptimizerOrDefault => Optimizer ?? new AdamWOptions(LearningRate: 1e-6f);
}

/// <summary>Result of one GREBT update.</summary>
/// <param name="Before">Loss on the groups before the update.</param>
/// <param name="Updated">Whether the head changed (false for variants that never train the RM).</param>
public readonly record struct RewardUpdateResult(GrebtResult Before, float GradNorm, bool Updated, float Omega);

/// <summary>
/// The R2M reward model around an <see cref="R2MHead"/>: scoring with omega(t) and the variant's
/// feedback source, GREBT updates with AdamW on the cross-attention + head only (the backbone is
/// frozen and outside this class; its RTEs come in with the inputs), and the offline BT warm-up
/// of the Pretrained baseline. Not thread-safe.
/// </summary>
public sealed class R2MRewardModel
{
    private readonly Rng _noise;

    public R2MRewardModel(R2MHead head, RewardModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(options);
        if (options.TotalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.TotalSteps, "TotalSteps must be positive");
        Head = head;
        Options = options;
        Settings = VariantSettings.For(options.Variant);
        var g = options.GrebtOrDefault;
        Grebt = Settings.AlphaOverride is float a ? g with { Alpha = a } : g;
        Grebt.Validate();
        Optimizer = new AdamWOptimizer(head.Parameters.Length, options.OptimizerOrDefault);
        _noise = new Rng(options.NoiseSeed);
    }

    public R2MHead Head { get; }
    public RewardModelOptions Options { get; }
    public VariantSettings Settings { get; }

    /// <summary>GREBT options after the variant's alpha override.</summary>
    public GrebtOptions Grebt { get; }

    public AdamWOptimizer Optimizer { get; }

    /// <summary>State of the noise stream (WithNoise), for checkpoints: xoshiro words and the cached Box-Muller normal.</summary>
    public Rng.State NoiseRngState { get => _noise.GetState(); set => _noise.SetState(value); }

    /// <summary>omega(t) of this variant: 1 when the variant uses no feedback.</summary>
    public float OmegaAt(long t) => Settings.UsesFeedback ? OmegaSchedule.Omega(t, Options.TotalSteps, Options.OmegaFloor) : 1f;

    /// <summary>Rewards (B) of items at step t (evaluation: t = TotalSteps).</summary>
    public void Score(IReadOnlyList<RewardInput> items, long t, Span<float> rewards)
    {
        float omega = OmegaAt(t);
        Head.Forward(Feedback(items, omega), omega, rewards);
    }

    /// <summary>
    /// GREBT on groups of K consecutive items (hidden states refreshed by the last policy epoch):
    /// recompute rewards with gradients, loss against annotationRewards for pair selection, backward,
    /// clip, one AdamW step over the parameters the variant trains. Variants that never train the RM
    /// only evaluate the loss.
    /// </summary>
    public RewardUpdateResult Update(IReadOnlyList<RewardInput> items, ReadOnlySpan<float> annotationRewards, int groupSize, long t)
    {
        float omega = OmegaAt(t);
        var rewards = new float[items.Count];
        var acts = Head.Forward(Feedback(items, omega), omega, rewards);
        var d = new float[items.Count];
        var loss = GrebtLoss.Compute(rewards, annotationRewards, groupSize, Grebt, d);
        if (Settings.Training == RmTraining.None) return new RewardUpdateResult(loss, 0f, false, omega);
        Head.ZeroGrad();
        Head.Backward(acts, d);
        int offset = Settings.Training == RmTraining.PhiOnly ? Head.PhiOffset : 0;
        var g = Head.Gradients.AsSpan(offset);
        float norm = Clipping.Apply(g, Options.GradClip);
        Optimizer.Update(Head.Parameters, Head.Gradients, Optimizer.Options.LearningRate, offset, g.Length);
        return new RewardUpdateResult(loss, norm, true, omega);
    }

    /// <summary>
    /// Offline Bradley-Terry fine-tune of phi on gold pairs (winner RTE, loser RTE), for the
    /// Pretrained RM baseline: the backbone is frozen here, so phi is what can be fine-tuned.
    /// Full-batch gradient steps with its own AdamW (the RL-time optimizer state is untouched).
    /// Returns the mean BT loss after each epoch.
    /// </summary>
    public float[] PretrainBradleyTerry(IReadOnlyList<(float[] Winner, float[] Loser)> pairs, int epochs, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0) throw new ArgumentException("no preference pairs", nameof(pairs));
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "epochs must be positive");
        var opt = new AdamWOptimizer(Head.Parameters.Length, new AdamWOptions(learningRate));
        var losses = new float[epochs];
        var items = new List<RewardInput>(2 * pairs.Count);
        foreach (var (w, l) in pairs) { items.Add(new RewardInput(w, default, 0)); items.Add(new RewardInput(l, default, 0)); }
        var sel = new float[items.Count];
        for (int i = 0; i < sel.Length; i += 2) sel[i] = 1f; // the gold winner is first in each pair
        var bt = new GrebtOptions(Alpha: 0f);
        for (int e = 0; e < epochs; e++)
        {
            var r = new float[items.Count];
            var acts = Head.Forward(items, 1f, r);
            var d = new float[items.Count];
            losses[e] = GrebtLoss.Compute(r, sel, 2, bt, d).Loss;
            Head.ZeroGrad();
            Head.Backward(acts, d);
            opt.Update(Head.Parameters, Head.Gradients, learningRate, Head.PhiOffset, Head.Parameters.Length - Head.PhiOffset);
        }
        Head.ZeroGrad();
        return losses;
    }

    /// <summary>Writes head, AdamW state and noise stream to a safetensors file, atomically.</summary>
    public void SaveCheckpoint(string path) => CheckpointState.SaveParts(path, Export);

    /// <summary>Restores <see cref="SaveCheckpoint"/> output (same head shape and variant); a bad file changes nothing.</summary>
    public void LoadCheckpoint(string path) => CheckpointState.LoadParts(path, Import);

    internal void Export(CheckpointState s)
    {
        foreach (var e in Head.Layout.Entries) s.Tensors[e.Name] = Head.Layout.View(Head.Parameters, e.Name).ToArray();
        Optimizer.Export(s, "rm.adamw");
        s.WriteRng("rm.noise_rng", NoiseRngState);
        s.Metadata["variant"] = Options.Variant.ToString();
        s.Metadata["head"] = HeadShape;
    }

    /// <summary>Validates everything, then returns the action that assigns it.</summary>
    internal Action Import(CheckpointState s)
    {
        s.Expect("variant", Options.Variant.ToString());
        s.Expect("head", HeadShape);
        var parts = Head.Layout.Entries.Select(e => (Offset: (int)e.Offset, Values: s.Tensor(e.Name, e.Count))).ToList();
        var optimizer = Optimizer.Import(s, "rm.adamw");
        var noise = s.ReadRng("rm.noise_rng");
        return () =>
        {
            foreach (var (offset, values) in parts) values.CopyTo(Head.Parameters, offset);
            optimizer();
            NoiseRngState = noise;
        };
    }

    private string HeadShape => $"{Head.Config.RmDim}x{Head.Config.PolicyDim}x{Head.Config.AttnDim}x{Head.Config.Heads}x{(Head.Config.PhiBias ? "bias" : "nobias")}";

    /// <summary>Items as the variant sees them at omega: unchanged, or with every real hidden row replaced by noise.</summary>
    private IReadOnlyList<RewardInput> Feedback(IReadOnlyList<RewardInput> items, float omega)
    {
        ArgumentNullException.ThrowIfNull(items);
        // At omega = 1 the head never reads the feedback, so no noise is drawn.
        if (Settings.Feedback != FeedbackSource.Noise || omega == 1f) return items;
        // Check the real feedback first: noise drawn from NaN statistics would hide which row was bad,
        // and a rejected batch must not advance the (checkpointed) noise stream.
        Head.ValidateBatch(items, needFeedback: true);
        var list = new List<RewardInput>(items.Count);
        foreach (var x in items) list.Add(WithNoise(x));
        return list;
    }

    /// <summary>Gaussian noise with the same mean and variance as the item's real (unmasked) feedback values.</summary>
    private RewardInput WithNoise(RewardInput x)
    {
        var h = x.Hidden.Span;
        var mask = x.Mask.Span;
        int dp = Head.Config.PolicyDim;
        double sum = 0, sq = 0;
        long n = 0;
        for (int r = 0; r < x.Rows; r++)
        {
            if (!mask.IsEmpty && !mask[r]) continue;
            foreach (var v in h.Slice(r * dp, Math.Min(dp, h.Length - r * dp))) { sum += v; sq += (double)v * v; n++; }
        }
        if (n == 0) return x; // unreachable after ValidateBatch; the head would report the padding-only item
        double mean = sum / n, std = Math.Sqrt(Math.Max(sq / n - mean * mean, 0));
        var noise = new float[x.Rows * dp];
        _noise.FillNormal(noise, (float)mean, (float)std);
        return x with { Hidden = noise };
    }
}
