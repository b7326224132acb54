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
    public void Score(IReadOnlyList<RewardInput> items, long t, Span<float> rewards) => Score(Head, Items(items, OmegaAt(t)), _noise, rewards);

    /// <summary>
    /// Rewards (B) of a batch whose items carry their own omega and feedback source, through
    /// <paramref name="head"/>: every item is checked first (nothing is drawn or computed for a bad
    /// batch), noise items draw from <paramref name="noise"/> in item order, and the items of each distinct
    /// omega go through one batched head forward. An item without feedback gets phi(H_last) exactly.
    /// Reads the head only, so a published head can serve while another one trains.
    /// </summary>
    public static void Score(R2MHead head, IReadOnlyList<RewardItem> items, Rng noise, Span<float> rewards)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(noise);
        if (rewards.Length != items.Count) throw new ArgumentException($"rewards has {rewards.Length} slots for {items.Count} items", nameof(rewards));
        var (inputs, omegas) = RewardBatches.Prepare(head, items, noise);
        RewardBatches.Forward(head, inputs, omegas, rewards);
    }

    /// <summary>
    /// GREBT on groups of K consecutive items (hidden states refreshed by the last policy epoch):
    /// recompute rewards with gradients, loss against annotationRewards for pair selection, backward,
    /// clip, one AdamW step over the parameters the variant trains. Variants that never train the RM
    /// only evaluate the loss.
    /// </summary>
    public RewardUpdateResult Update(IReadOnlyList<RewardInput> items, ReadOnlySpan<float> annotationRewards, int groupSize, long t)
    {
        ArgumentNullException.ThrowIfNull(items);
        var sizes = GroupSizes.Uniform(items.Count, groupSize, "a GREBT group");
        var selection = new float?[annotationRewards.Length];
        for (int i = 0; i < selection.Length; i++) selection[i] = annotationRewards[i];
        var batch = new GrebtBatch(Items(items, OmegaAt(t)), sizes, selection);
        var result = Update(batch, new RewardUpdateOptions(Settings, Grebt, Optimizer.Options.LearningRate, Options.GradClip));
        return result with { Omega = OmegaAt(t) };
    }

    /// <summary>
    /// GREBT update on a batch of groups (K may differ per group) with per-call settings: noise for
    /// noise items drawn once from this model's stream, then per step: rewards (one head forward per
    /// distinct omega), GREBT loss (pairs chosen at the first step), backward, clip and one AdamW step
    /// over the parameters the variant trains (phi only for Iterative RM_Head). <paramref name="afterStep"/>
    /// runs after each optimizer step (1-based), <paramref name="cancellationToken"/> is checked before each.
    /// Bad input throws ArgumentException before anything changes. A non-finite reward, loss, gradient or
    /// weight throws <see cref="NonFiniteTrainingException"/> naming the step; after the last step the
    /// batch is scored once more and its rewards must be finite too. Either exception, or a cancellation,
    /// can leave the model partly trained (train a copy when that matters). Variants that never train only
    /// evaluate the loss. The result's loss is that of the first step.
    /// </summary>
    public RewardUpdateResult Update(GrebtBatch batch, RewardUpdateOptions options, Action<int>? afterStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var grebt = options.Settings.AlphaOverride is float a ? options.Grebt with { Alpha = a } : options.Grebt;
        int n = batch.Items.Count;
        var sizes = batch.GroupSizes.ToArray();
        GroupSizes.Check(sizes, n, "a GREBT group");
        if (batch.SelectionRewards is { } given && given.Count != n) throw new ArgumentException($"{given.Count} selection rewards for {n} items", nameof(batch));
        var (inputs, omegas) = RewardBatches.Prepare(Head, batch.Items, _noise);
        bool train = options.Settings.Training != RmTraining.None;
        int offset = options.Settings.Training == RmTraining.PhiOnly ? Head.PhiOffset : 0, count = Head.Parameters.Length - offset;
        float[]? selection = null;
        GrebtResult first = default;
        float norm = 0f;
        for (int step = 1; step <= (train ? options.Steps : 1); step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var rewards = new float[n];
            var groups = RewardBatches.Forward(Head, inputs, omegas, rewards);
            if (!R2MHead.Finite(rewards)) throw NonFinite(step, options.Steps, "the recomputed rewards contain NaN or Inf");
            selection ??= Selection(batch, sizes, rewards);
            var d = new float[n];
            var loss = GrebtLoss.Compute(rewards, selection, sizes, grebt, d);
            if (step == 1) first = loss;
            if (!train) break;
            Head.ZeroGrad();
            RewardBatches.Backward(Head, groups, d);
            norm = Clipping.Apply(Head.Gradients.AsSpan(offset, count), options.GradClip);
            if (!float.IsFinite(norm)) throw NonFinite(step, options.Steps, $"the gradient norm is {norm}");
            Optimizer.Update(Head.Parameters, Head.Gradients, options.LearningRate, offset, count);
            if (!R2MHead.Finite(Head.Parameters.AsSpan(offset, count))) throw NonFinite(step, options.Steps, "the updated weights contain NaN or Inf");
            afterStep?.Invoke(step);
        }

        if (train)
        {
            // Finite weights can still be unusable (a learning rate of 1e30 leaves weights near 1e30 whose
            // attention logits overflow): the updated head must score this very batch finitely.
            var check = new float[n];
            RewardBatches.Forward(Head, inputs, omegas, check);
            if (!R2MHead.Finite(check)) throw NonFinite(options.Steps + 1, options.Steps, "the rewards of the updated head contain NaN or Inf (learning rate too large?)");
        }

        float omega = omegas.FirstOrDefault(o => o < 1f, 1f);
        return new RewardUpdateResult(first, norm, train, omega);
    }

    /// <summary>Copies head weights, AdamW state and the noise stream position of another model of the same head shape (no allocation).</summary>
    public void CopyStateFrom(R2MRewardModel source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Head.Config != Head.Config) throw new ArgumentException($"head {source.HeadShape} cannot be copied into head {HeadShape}", nameof(source));
        source.Head.Parameters.CopyTo(Head.Parameters, 0);
        Optimizer.CopyFrom(source.Optimizer);
        NoiseRngState = source.NoiseRngState;
    }

    private static NonFiniteTrainingException NonFinite(int step, int steps, string what) =>
        new(step > steps ? $"GREBT update, after step {steps} of {steps}: {what}" : $"GREBT update, step {step} of {steps}: {what}", step);

    /// <summary>Selection rewards per item: a group's own when every member has one, else the recomputed rewards.</summary>
    private static float[] Selection(GrebtBatch batch, int[] sizes, float[] recomputed)
    {
        var sel = (float[])recomputed.Clone();
        if (batch.SelectionRewards is not { } given) return sel;
        int o = 0;
        foreach (var k in sizes)
        {
            bool all = true;
            for (int j = o; j < o + k; j++) all &= given[j] is not null;
            if (all) for (int j = o; j < o + k; j++) sel[j] = given[j]!.Value;
            o += k;
        }
        return sel;
    }

    private List<RewardItem> Items(IReadOnlyList<RewardInput> items, float omega)
    {
        ArgumentNullException.ThrowIfNull(items);
        return [.. items.Select(x => new RewardItem(x, omega, Settings.Feedback))];
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
}
