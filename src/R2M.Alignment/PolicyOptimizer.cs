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
public readonly record struct PolicyUpdateResult(float FirstEpochLoss, float LastEpochLoss, float Kl, float ClipFraction, float GradNorm, int OptimizerSteps, float? Entropy = null);

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
        ArgumentNullException.ThrowIfNull(options);
        if (options.Epochs <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.Epochs, "Epochs must be positive");
        if (options.MiniBatchSize < 0) throw new ArgumentOutOfRangeException(nameof(options), options.MiniBatchSize, "MiniBatchSize must be >= 0");
        if (!(options.Temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(options), options.Temperature, "Temperature must be > 0");
        options.LossOrDefault.Validate();
        Policy = policy;
        Options = options;
        Optimizer = new AdamWOptimizer(policy.Parameters.Length, options.OptimizerOrDefault);
    }

    public ITrainablePolicy Policy { get; }
    public PolicyOptimizerOptions Options { get; }
    public AdamWOptimizer Optimizer { get; }

    /// <summary>Runs the epochs over rollouts with advantages (one per rollout).</summary>
    public PolicyUpdateResult Optimize(IReadOnlyList<Rollout> rollouts, ReadOnlySpan<float> advantages, bool refreshHidden)
    {
        ArgumentNullException.ThrowIfNull(rollouts);
        if (rollouts.Count == 0) throw new ArgumentException("no rollouts to optimize on", nameof(rollouts));
        if (advantages.Length != rollouts.Count) throw new ArgumentException($"{advantages.Length} advantages for {rollouts.Count} rollouts", nameof(advantages));
        var loss = Options.LossOrDefault;
        if (loss.Beta != 0 && rollouts.Any(r => r.RefLogProbs is null)) throw new ArgumentException("beta > 0 but a rollout has no reference log-probs", nameof(rollouts));
        int mb = Options.MiniBatchSize == 0 ? rollouts.Count : Math.Min(Options.MiniBatchSize, rollouts.Count);
        double first = 0, last = 0, kl = 0, clip = 0, norm = 0, entropy = 0;
        int steps = 0, firstCount = 0, lastCount = 0;
        bool hasEntropy = true;
        var adv = advantages.ToArray();
        for (int e = 0; e < Options.Epochs; e++)
        {
            bool lastEpoch = e == Options.Epochs - 1;
            for (int s = 0; s < rollouts.Count; s += mb)
            {
                int n = Math.Min(mb, rollouts.Count - s);
                var (res, gn, h) = MiniBatch(rollouts, s, n, adv, loss, lastEpoch && refreshHidden);
                if (e == 0) { first += res.Loss; firstCount++; }
                if (lastEpoch)
                {
                    last += res.Loss; lastCount++; kl += res.Kl; clip += res.ClipFraction; norm += gn;
                    if (h is double hv) entropy += hv; else hasEntropy = false;
                }
                steps++;
            }
        }
        return new PolicyUpdateResult((float)(first / firstCount), (float)(last / lastCount), (float)(kl / lastCount), (float)(clip / lastCount), (float)(norm / lastCount), steps,
            hasEntropy ? (float)(entropy / lastCount) : null);
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

    private (PolicyLossResult Loss, float GradNorm, double? Entropy) MiniBatch(IReadOnlyList<Rollout> rollouts, int start, int n, float[] adv, PolicyLossOptions lossOpts, bool refresh)
    {
        float temp = Options.Temperature;
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
        Policy.ZeroGrad();
        var dItems = new float[n][];
        for (int b = 0; b < n; b++) dItems[b] = d.AsSpan(b * tmax, rollouts[start + b].Completion.Length).ToArray();
        Policy.Backward(pass, dItems);
        if (refresh)
        {
            for (int b = 0; b < n; b++) { rollouts[start + b].Hidden = pass.Hidden[b]; rollouts[start + b].HiddenRows = pass.HiddenRows[b]; }
        }
        float gn = Clipping.Apply(Policy.Gradients, Options.GradClip);
        float lr = Options.ScheduleOrDefault.At(Optimizer.Options.LearningRate, Optimizer.Step);
        Optimizer.Update(Policy.Parameters, Policy.Gradients, lr);
        return (res, gn, MeanEntropy(pass));
    }
}
