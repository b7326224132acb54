using System.Numerics.Tensors;

namespace R2M.Alignment;

/// <summary>Policy-side options (docs/method.md section 1 step 5, docs/method.md section 8).</summary>
/// <param name="Epochs">k passes over the batch (paper: 2).</param>
/// <param name="MiniBatchSize">Rollouts per optimizer step (0 = whole batch).</param>
/// <param name="Temperature">Sampling temperature; log-probs are of logits / temperature (TRL).</param>
/// <param name="GradClip">Global-norm clip (&lt;= 0: none).</param>
public sealed record PolicyOptimizerOptions(
    int Epochs = 2,
    int MiniBatchSize = 0,
    float Temperature = 1f,
    PolicyLossOptions? Loss = null,
    AdamWOptions? Optimizer = null,
    float GradClip = 1f,
    LrSchedule? Schedule = null)
{
    public PolicyLossOptions LossOrDefault => Loss ?? new PolicyLossOptions();
    public AdamWOptions OptimizerOrDefault => Optimizer ?? new AdamWOptions(LearningRate: 1e-6f);
    public LrSchedule ScheduleOrDefault => Schedule ?? new LrSchedule();
}

/// <summary>Mean metrics of one <see cref="PolicyOptimizer.Optimize"/> call.</summary>
/// <param name="FirstEpochLoss">Mean minibatch loss in epoch 1 (before any step of this batch moved the policy on its first minibatch).</param>
/// <param name="LastEpochLoss">Mean minibatch loss in the last epoch.</param>
/// <param name="Entropy">
/// Mean over the last epoch's minibatches of each minibatch's mean per-token policy entropy over its
/// completion tokens (nats; averaged like Kl and ClipFraction); null when the policy's passes carry no
/// <see cref="PolicyPass.CompletionEntropy"/>.
/// </param>
/// <param name="EpochLosses">Mean minibatch loss of every epoch, in order.</param>
public readonly record struct PolicyUpdateResult(float FirstEpochLoss, float LastEpochLoss, float Kl, float ClipFraction, float GradNorm, int OptimizerSteps, float? Entropy = null, IReadOnlyList<float>? EpochLosses = null);

/// <summary>
/// k epochs of clipped-surrogate updates over a batch of rollouts, full-parameter AdamW with
/// global-norm clipping and a learning-rate schedule. Minibatches run in rollout order (deterministic;
/// the caller shuffles if it wants). In the last epoch each rollout's Hidden is replaced by the hidden
/// states of that epoch's forward pass (h', no extra forward pass). Not thread-safe.
/// </summary>
public sealed class PolicyOptimizer
{
    public PolicyOptimizer(ITrainablePolicy policy, PolicyOptimizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Validate(options);
        Policy = policy;
        Options = options;
        Optimizer = new AdamWOptimizer(policy.Parameters.Length, options.OptimizerOrDefault);
    }

    public ITrainablePolicy Policy { get; }
    public PolicyOptimizerOptions Options { get; }

    /// <summary>AdamW state; it persists across <see cref="Optimize(IReadOnlyList{Rollout}, ReadOnlySpan{float}, bool)"/> calls.</summary>
    public AdamWOptimizer Optimizer { get; }

    /// <summary>Runs the epochs over rollouts with advantages (one per rollout).</summary>
    public PolicyUpdateResult Optimize(IReadOnlyList<Rollout> rollouts, ReadOnlySpan<float> advantages, bool refreshHidden) =>
        Optimize(rollouts, advantages, refreshHidden, Options);

    /// <summary>
    /// As <see cref="Optimize(IReadOnlyList{Rollout}, ReadOnlySpan{float}, bool)"/> with per-call settings: epochs,
    /// minibatch size, temperature, loss, clip, schedule and the base learning rate of
    /// <paramref name="options"/>.Optimizer (betas, epsilon and weight decay stay this optimizer's, whose moments
    /// carry over between calls). <paramref name="afterStep"/> runs after each optimizer step (1-based),
    /// <paramref name="cancellationToken"/> is checked before each. A non-finite log-prob, loss, gradient or
    /// weight throws <see cref="NonFiniteTrainingException"/> naming the step; after the last step the first
    /// rollout's log-probs under the updated policy must be finite too (a one-sequence forward: weights that
    /// are finite but overflow, e.g. after a learning rate of 1e30, are caught here). Either exception, or a
    /// cancellation, can leave the policy partly trained (train a copy when that matters).
    /// </summary>
    public PolicyUpdateResult Optimize(IReadOnlyList<Rollout> rollouts, ReadOnlySpan<float> advantages, bool refreshHidden, PolicyOptimizerOptions options,
        Action<int>? afterStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rollouts);
        Validate(options);
        if (rollouts.Count == 0) throw new ArgumentException("no rollouts to optimize on", nameof(rollouts));
        if (advantages.Length != rollouts.Count) throw new ArgumentException($"{advantages.Length} advantages for {rollouts.Count} rollouts", nameof(advantages));
        var loss = options.LossOrDefault;
        if (loss.Beta != 0 && rollouts.Any(r => r.RefLogProbs is null)) throw new ArgumentException("beta > 0 but a rollout has no reference log-probs", nameof(rollouts));
        int mb = options.MiniBatchSize == 0 ? rollouts.Count : Math.Min(options.MiniBatchSize, rollouts.Count);
        int total = options.Epochs * ((rollouts.Count + mb - 1) / mb);
        double last = 0, kl = 0, clip = 0, norm = 0, entropy = 0;
        int steps = 0, lastCount = 0;
        bool hasEntropy = true;
        var adv = advantages.ToArray();
        var epochLosses = new float[options.Epochs];
        for (int e = 0; e < options.Epochs; e++)
        {
            bool lastEpoch = e == options.Epochs - 1;
            double epochLoss = 0;
            int epochCount = 0;
            for (int s = 0; s < rollouts.Count; s += mb)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = Math.Min(mb, rollouts.Count - s);
                steps++;
                var (res, gn, h) = MiniBatch(rollouts, s, n, adv, options, lastEpoch && refreshHidden, steps, total);
                epochLoss += res.Loss;
                epochCount++;
                if (lastEpoch)
                {
                    last += res.Loss; lastCount++; kl += res.Kl; clip += res.ClipFraction; norm += gn;
                    if (h is double hv) entropy += hv; else hasEntropy = false;
                }
                afterStep?.Invoke(steps);
            }
            epochLosses[e] = (float)(epochLoss / epochCount);
        }
        Probe(rollouts[0], options.Temperature, total);
        return new PolicyUpdateResult(epochLosses[0], (float)(last / lastCount), (float)(kl / lastCount), (float)(clip / lastCount), (float)(norm / lastCount), steps,
            hasEntropy ? (float)(entropy / lastCount) : null, epochLosses);
    }

    /// <summary>Copies the parameters and AdamW state of another optimizer over a policy of the same size (no allocation).</summary>
    public void CopyStateFrom(PolicyOptimizer source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Policy.Parameters.Length != Policy.Parameters.Length)
            throw new ArgumentException($"a policy of {source.Policy.Parameters.Length} parameters cannot be copied into one of {Policy.Parameters.Length}", nameof(source));
        source.Policy.Parameters.CopyTo(Policy.Parameters);
        Optimizer.CopyFrom(source.Optimizer);
    }

    private static void Validate(PolicyOptimizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "Epochs must be positive");
        if (options.MiniBatchSize < 0) throw new ArgumentOutOfRangeException(nameof(options), options.MiniBatchSize, "MiniBatchSize must be >= 0");
        if (!(options.Temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(options), options.Temperature, "Temperature must be > 0");
        if (float.IsNaN(options.GradClip)) throw new ArgumentOutOfRangeException(nameof(options), options.GradClip, "GradClip must be a number (<= 0 measures only)");
        options.LossOrDefault.Validate();
        options.OptimizerOrDefault.Validate();
    }

    /// <summary>The updated policy must give the first rollout finite log-probs (one sequence, no activations kept).</summary>
    private void Probe(Rollout r, float temperature, int steps)
    {
        var pass = Policy.Forward([(r.Prompt, r.Completion)], temperature, keepActivations: false);
        if (!R2MHead.Finite(pass.CompletionLogProbs[0]))
            throw new NonFiniteTrainingException($"policy update, after step {steps} of {steps}: the updated policy's log-probs of rollout {r.Id} contain NaN or Inf (learning rate too large?)", steps + 1);
    }

    /// <summary>Writes policy parameters and AdamW state to a safetensors file, atomically.</summary>
    public void SaveCheckpoint(string path) => CheckpointState.SaveParts(path, Export);

    /// <summary>Restores <see cref="SaveCheckpoint"/> output (same parameter count); a bad file changes nothing.</summary>
    public void LoadCheckpoint(string path) => CheckpointState.LoadParts(path, Import);

    internal void Export(CheckpointState s)
    {
        s.Tensors["policy.params"] = Policy.Parameters.ToArray();
        Optimizer.Export(s, "policy.adamw");
    }

    internal Action Import(CheckpointState s)
    {
        int n = Policy.Parameters.Length;
        var p = s.Tensor("policy.params", n);
        var optimizer = Optimizer.Import(s, "policy.adamw");
        return () =>
        {
            p.CopyTo(Policy.Parameters);
            optimizer();
        };
    }

    /// <summary>Mean entropy over the minibatch's completion tokens (the tokens the loss masks in); null without entropies.</summary>
    private static double? MeanEntropy(PolicyPass pass)
    {
        if (pass.CompletionEntropy is not { } ent) return null;
        double sum = 0;
        long tokens = 0;
        foreach (var row in ent) { sum += TensorPrimitives.Sum<float>(row); tokens += row.Length; }
        return tokens == 0 ? null : sum / tokens;
    }

    private (PolicyLossResult Loss, float GradNorm, double? Entropy) MiniBatch(IReadOnlyList<Rollout> rollouts, int start, int n, float[] adv, PolicyOptimizerOptions options, bool refresh, int step, int steps)
    {
        float temp = options.Temperature;
        var lossOpts = options.LossOrDefault;
        var items = new (int[] Prompt, int[] Completion)[n];
        for (int b = 0; b < n; b++) items[b] = (rollouts[start + b].Prompt, rollouts[start + b].Completion);
        var pass = Policy.Forward(items, temp, keepActivations: true);
        int tmax = 0;
        for (int b = 0; b < n; b++)
        {
            var r = rollouts[start + b];
            if (pass.CompletionLogProbs[b].Length != r.Completion.Length)
                throw new InvalidOperationException($"policy returned {pass.CompletionLogProbs[b].Length} log-probs for a {r.Completion.Length}-token completion (rollout {r.Id})");
            if (pass.CompletionEntropy is { } ent && (ent.Length != n || ent[b].Length != r.Completion.Length))
                throw new InvalidOperationException($"policy returned entropies that do not match the {r.Completion.Length}-token completion (rollout {r.Id})");
            if (!R2MHead.Finite(pass.CompletionLogProbs[b])) throw NonFinite(step, steps, $"the policy's log-probs of rollout {r.Id} contain NaN or Inf");
            tmax = Math.Max(tmax, r.Completion.Length);
        }
        if (tmax == 0) throw new ArgumentException("every completion in the minibatch is empty");
        var logp = new float[n * tmax];
        var old = new float[n * tmax];
        var refl = lossOpts.Beta != 0 ? new float[n * tmax] : [];
        var mask = new bool[n * tmax];
        for (int b = 0; b < n; b++)
        {
            var r = rollouts[start + b];
            int t = r.Completion.Length;
            pass.CompletionLogProbs[b].CopyTo(logp, b * tmax);
            r.OldLogProbs.AsSpan(0, t).CopyTo(old.AsSpan(b * tmax));
            if (refl.Length > 0) r.RefLogProbs!.AsSpan(0, t).CopyTo(refl.AsSpan(b * tmax));
            mask.AsSpan(b * tmax, t).Fill(true);
        }
        var d = new float[n * tmax];
        var res = PolicyLoss.Compute(logp, old, refl, mask, adv.AsSpan(start, n), n, tmax, lossOpts, d);
        if (!float.IsFinite(res.Loss)) throw NonFinite(step, steps, $"the loss is {res.Loss}");
        Policy.ZeroGrad();
        var dItems = new float[n][];
        for (int b = 0; b < n; b++) dItems[b] = d.AsSpan(b * tmax, rollouts[start + b].Completion.Length).ToArray();
        Policy.Backward(pass, dItems);
        if (refresh)
        {
            for (int b = 0; b < n; b++) { rollouts[start + b].Hidden = pass.Hidden[b]; rollouts[start + b].HiddenRows = pass.HiddenRows[b]; }
        }
        float gn = Clipping.Apply(Policy.Gradients, options.GradClip);
        if (!float.IsFinite(gn)) throw NonFinite(step, steps, $"the gradient norm is {gn}");
        float lr = options.ScheduleOrDefault.At(options.OptimizerOrDefault.LearningRate, Optimizer.Step);
        Optimizer.Update(Policy.Parameters, Policy.Gradients, lr);
        if (!R2MHead.Finite(Policy.Parameters)) throw NonFinite(step, steps, "the updated weights contain NaN or Inf");
        return (res, gn, MeanEntropy(pass));
    }

    private static NonFiniteTrainingException NonFinite(int step, int steps, string what) => new($"policy update, step {step} of {steps}: {what}", step);
}
