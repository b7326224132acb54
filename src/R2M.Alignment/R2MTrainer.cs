using System.Globalization;
using R2M.Tensors;

namespace R2M.Alignment;

/// <summary>In-process GRPO/RLOO + R2M loop options (docs/method.md sections 1 and 5).</summary>
/// <param name="GroupSize">K responses per prompt.</param>
/// <param name="MaxNewTokens">Generation budget per response.</param>
public sealed record TrainerOptions(
    int GroupSize = 8,
    int MaxNewTokens = 32,
    AdvantageOptions? Advantages = null,
    ulong Seed = 1,
    int RteCacheCapacity = 4096)
{
    public AdvantageOptions AdvantagesOrDefault => Advantages ?? new AdvantageOptions();
}

/// <summary>What one <see cref="R2MTrainer.TrainStep"/> did. Times in seconds.</summary>
public sealed record StepReport(
    long Step,
    float Omega,
    float MeanReward,
    PolicyUpdateResult Policy,
    RewardUpdateResult Reward,
    float? MeanSeam,
    double GenerationSeconds,
    double ScoringSeconds,
    double PolicySeconds,
    double RewardUpdateSeconds);

/// <summary>
/// The whole loop of docs/method.md section 1 in process: sample K completions per prompt from
/// pi_old, score them (RTEs cached by rollout id), group advantages, k policy epochs that refresh the
/// hidden states, then the GREBT update of the head, and a SEAM discrepancy per group. Checkpoints
/// hold everything that decides later numbers, so a resumed run continues bit for bit.
/// </summary>
public sealed class R2MTrainer
{
    private const string FormatVersion = "r2m-trainer-1";
    private readonly ITrainablePolicy? _reference;
    private readonly IRteSource _backbone;
    private readonly Rng _rng;
    private readonly TimeProvider _time;

    public R2MTrainer(PolicyOptimizer policy, ITrainablePolicy? reference, IRteSource backbone, R2MRewardModel rewardModel, TrainerOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(rewardModel);
        ArgumentNullException.ThrowIfNull(options);
        if (options.GroupSize < 2) throw new ArgumentOutOfRangeException(nameof(options), options.GroupSize, "GroupSize K must be >= 2");
        if (options.MaxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.MaxNewTokens, "MaxNewTokens must be positive");
        if (policy.Options.LossOrDefault.Beta != 0 && reference is null) throw new ArgumentException("beta > 0 needs a frozen reference policy", nameof(reference));
        if (backbone.HiddenSize != rewardModel.Head.Config.RmDim) throw new ArgumentException($"backbone width {backbone.HiddenSize} != head D_rm {rewardModel.Head.Config.RmDim}", nameof(backbone));
        if (policy.Policy.HiddenSize != rewardModel.Head.Config.PolicyDim) throw new ArgumentException($"policy width {policy.Policy.HiddenSize} != head D_p {rewardModel.Head.Config.PolicyDim}", nameof(policy));
        Policy = policy;
        _reference = reference;
        _backbone = backbone;
        RewardModel = rewardModel;
        Options = options;
        Cache = new RteCache(options.RteCacheCapacity);
        _rng = new Rng(options.Seed);
        _time = time ?? TimeProvider.System;
    }

    public PolicyOptimizer Policy { get; }
    public R2MRewardModel RewardModel { get; }
    public TrainerOptions Options { get; }
    public RteCache Cache { get; }

    /// <summary>Completed steps; the next step runs at t = Step (omega(0) = 1 on the first).</summary>
    public long Step { get; private set; }

    /// <summary>Rollouts of the last step (hidden states already refreshed).</summary>
    public IReadOnlyList<Rollout> LastRollouts { get; private set; } = [];

    /// <summary>One RL step on prompts (n prompts, K samples each).</summary>
    public StepReport TrainStep(IReadOnlyList<int[]> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new ArgumentException("no prompts", nameof(prompts));
        long t = Step;
        int k = Options.GroupSize;
        long t0 = _time.GetTimestamp();
        var rollouts = Generate(prompts, t);
        long t1 = _time.GetTimestamp();
        var rewards = new float[rollouts.Count];
        RewardModel.Score(Inputs(rollouts), t, rewards);
        for (int i = 0; i < rollouts.Count; i++) rollouts[i].AnnotationReward = rewards[i];
        var adv = new float[rollouts.Count];
        Advantages.Compute(rewards, k, Options.AdvantagesOrDefault, adv);
        long t2 = _time.GetTimestamp();
        var pol = Policy.Optimize(rollouts, adv, refreshHidden: RewardModel.Settings.UsesFeedback);
        long t3 = _time.GetTimestamp();
        var rm = RewardModel.Update(Inputs(rollouts), rewards, k, t);
        long t4 = _time.GetTimestamp();
        float? seam = MeanSeam(rollouts, rewards, k);
        Step++;
        LastRollouts = rollouts;
        return new StepReport(t, RewardModel.OmegaAt(t), rewards.Average(), pol, rm, seam,
            _time.GetElapsedTime(t0, t1).TotalSeconds, _time.GetElapsedTime(t1, t2).TotalSeconds,
            _time.GetElapsedTime(t2, t3).TotalSeconds, _time.GetElapsedTime(t3, t4).TotalSeconds);
    }

    /// <summary>Reward inputs of rollouts: cached RTE (computed once per rollout id) and the current hidden states.</summary>
    public List<RewardInput> Inputs(IReadOnlyList<Rollout> rollouts)
    {
        var list = new List<RewardInput>(rollouts.Count);
        foreach (var r in rollouts)
        {
            var rte = Cache.GetOrAdd(r.Id, () => _backbone.ComputeRte(r.Sequence()));
            list.Add(new RewardInput(rte, r.Hidden, r.HiddenRows));
        }
        return list;
    }

    private List<Rollout> Generate(IReadOnlyList<int[]> prompts, long t)
    {
        var list = new List<Rollout>(prompts.Count * Options.GroupSize);
        float temp = Policy.Options.Temperature;
        for (int i = 0; i < prompts.Count; i++)
        {
            var samples = Policy.Policy.SampleGroup(prompts[i], Options.GroupSize, Options.MaxNewTokens, temp, _rng.NextUInt64());
            if (samples.Count != Options.GroupSize) throw new InvalidOperationException($"policy returned {samples.Count} samples, expected K = {Options.GroupSize}");
            for (int j = 0; j < samples.Count; j++)
            {
                var s = samples[j];
                if (s.Completion.Length == 0) throw new InvalidOperationException($"policy sampled an empty completion for prompt {i}");
                list.Add(new Rollout
                {
                    Id = string.Create(CultureInfo.InvariantCulture, $"{t}-{i}-{j}"),
                    Prompt = prompts[i], Completion = s.Completion, OldLogProbs = s.LogProbs, Hidden = s.Hidden, HiddenRows = s.HiddenRows,
                });
            }
        }
        if (_reference is not null && Policy.Options.LossOrDefault.Beta != 0)
        {
            var refPass = _reference.Forward(list.Select(r => (r.Prompt, r.Completion)).ToList(), temp, keepActivations: false);
            for (int i = 0; i < list.Count; i++) list[i].RefLogProbs = refPass.CompletionLogProbs[i];
        }
        return list;
    }

    /// <summary>Mean SEAM discrepancy over the groups where it is defined; null when none is.</summary>
    private static float? MeanSeam(List<Rollout> rollouts, float[] rewards, int k)
    {
        double sum = 0;
        int defined = 0;
        for (int g = 0; g < rollouts.Count / k; g++)
        {
            var ll = new float[k];
            var len = new int[k];
            for (int j = 0; j < k; j++)
            {
                var r = rollouts[g * k + j];
                ll[j] = r.OldLogProbs.Sum();
                len[j] = r.Completion.Length;
            }
            if (Seam.Discrepancy(ll, len, rewards.AsSpan(g * k, k)) is { } d)
            {
                sum += d;
                defined++;
            }
        }
        return defined == 0 ? null : (float)(sum / defined);
    }

    /// <summary>
    /// Writes policy parameters, both AdamW states, head parameters, step counters and RNG states to
    /// one safetensors file, atomically (temp file, fsync, rename).
    /// </summary>
    public void SaveCheckpoint(string path) => CheckpointState.SaveParts(path, ExportLoop, Policy.Export, RewardModel.Export);

    /// <summary>Restores a checkpoint written by <see cref="SaveCheckpoint"/> (same shapes and variant); a bad file changes nothing.</summary>
    public void LoadCheckpoint(string path) => CheckpointState.LoadParts(path, ImportLoop, Policy.Import, RewardModel.Import);

    private void ExportLoop(CheckpointState s)
    {
        s.Metadata["format"] = FormatVersion;
        s.Counters["trainer.step"] = [(ulong)Step];
        s.WriteRng("trainer.rng", _rng.GetState());
    }

    private Action ImportLoop(CheckpointState s)
    {
        s.Expect("format", FormatVersion);
        var step = s.Counter("trainer.step", 1)[0];
        var rng = s.ReadRng("trainer.rng");
        return () =>
        {
            Step = (long)step;
            _rng.SetState(rng);
        };
    }
}
