using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using R2M.Api.V1;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>What a finished (or resumed and finished) run produced.</summary>
/// <param name="Steps">Every step's metrics of this run, resumed steps included (read back from the JSONL).</param>
/// <param name="HeldOut">RM accuracy on the sandbox's held-out gold pairs at t = T, with and without policy feedback; null when
/// skipped (HeldOutPairs 0) or the task is not a sandbox task.</param>
/// <param name="StartStep">First step this invocation ran (1, or the checkpoint's step + 1).</param>
/// <param name="RunId">The run's id (<see cref="RunFolder"/>), in every metrics line and checkpoint.</param>
/// <param name="EvalPairs">RM accuracy on the --eval-pairs file at t = T, with and without feedback; null without the file.</param>
public sealed record TrainResult(IReadOnlyList<VariantStepMetrics> Steps, HeldOutResult? HeldOut, int StartStep, string RunId, HeldOutResult? EvalPairs = null);

/// <summary>
/// The RL loop of docs/method.md section 1 driven over the wire on a training task (a sandbox task
/// or the user's prompts, <see cref="ITrainingTask"/>): per step, Generate K responses for n prompts,
/// Score them by rollout id with the schedule (t, T, Omega), compute GRPO/RLOO group advantages,
/// Optimize, then Update the RM with one preference group per prompt unless the variant freezes it.
/// One JSONL line per step; a server checkpoint every N steps with the step counter and run id as
/// client_state, so <see cref="TrainSettings.Resume"/> continues with no step lost and none repeated.
/// </summary>
public sealed class R2MTrainer
{
    private readonly R2MClient _client;
    private readonly TrainSettings _s;
    private readonly VariantConfig _variant;
    private readonly Algorithm _algorithm; // parsed once (Validate checked it), not per group per step
    private readonly ITrainingTask _task;
    private readonly IReadOnlyList<string>? _evalPrompts;
    private readonly IReadOnlyList<PairRecord>? _evalPairs;

    public R2MTrainer(R2MClient client, TrainSettings settings)
        : this(client, settings, null)
    {
    }

    /// <summary>A trainer on <paramref name="task"/> (null: the task the settings name, <see cref="TrainingTasks.From"/>).</summary>
    internal R2MTrainer(R2MClient client, TrainSettings settings, ITrainingTask? task)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        _client = client;
        _s = settings;
        _variant = settings.VariantConfig;
        _algorithm = Choices.Algorithm(settings.Algorithm);
        _task = task ?? TrainingTasks.From(settings);
        _evalPrompts = settings.EvalPrompts is { } file ? JsonlFile.ReadPrompts(file).Select(p => p.Prompt).ToArray() : null;
        _evalPairs = settings.EvalPairs is { } pairs ? JsonlFile.ReadPairs(pairs) : null; // a bad line fails here, before any step
    }

    /// <summary>Called after each finished step (progress display).</summary>
    public Action<VariantStepMetrics>? OnStep { get; init; }

    /// <summary>Called when a phase starts ("generate", "score", ...), for progress display.</summary>
    public Action<int, string>? OnPhase { get; init; }

    /// <summary>Called once the run id is known (new, or the resumed run's), before the first step.</summary>
    public Action<string>? OnRunId { get; init; }

    /// <summary>The task's name as written into the metrics.</summary>
    public string TaskName => _task.Name;

    /// <summary>True when gold labels pick the GREBT pairs: the run is a diagnostic positive control, not R2M.</summary>
    public bool IsGoldLabelDiagnostic => _task.Labels == PairLabelSource.Gold;

    public async Task<TrainResult> RunAsync(CancellationToken cancellationToken = default)
    {
        int start = 1;
        string runId;
        if (_s.Resume)
        {
            (start, runId) = await ResumeAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            RunFolder.PrepareFresh(_s.MetricsPath, _s.Overwrite);
            runId = RunFolder.NewRunId();
            if (!_s.NoReset)
            {
                // A fresh run starts from the startup weights with an empty store and the head
                // re-initialized from the run seed, not from whatever the last run left.
                await _client.ResetAsync(_s.Seed, cancellationToken).ConfigureAwait(false);
            }
        }

        OnRunId?.Invoke(runId);
        var clock = Stopwatch.StartNew();
        using (var writer = new MetricsJsonlWriter(_s.MetricsPath))
        {
            for (int step = start; step <= _s.Steps; step++)
            {
                VariantStepMetrics m = await StepAsync(step, runId, clock, cancellationToken).ConfigureAwait(false);
                writer.Write(m);
                if (_s.CheckpointEvery > 0 && (step % _s.CheckpointEvery == 0 || step == _s.Steps))
                {
                    OnPhase?.Invoke(step, "checkpoint");
                    await _client.SaveCheckpointAsync(_s.CheckpointNameOrDefault, ClientState.Encode(new ClientState(step, _s.RunName, runId)), cancellationToken).ConfigureAwait(false);
                }

                OnStep?.Invoke(m);
            }
        }

        // Held-out accuracy at t = T (the paper's evaluation point), with and without policy feedback.
        var evaluator = new HeldOutEvaluator(_client);
        var options = new ScoreOptions { Variant = _variant, Schedule = Schedule(_s.Steps) };
        HeldOutResult? heldOut = null, evalPairs = null;
        if (_s.HeldOutPairs > 0 && _task.SandboxAt(_s.Steps, _s.Steps) is { } sandbox)
        {
            OnPhase?.Invoke(_s.Steps, "held-out");
            heldOut = await evaluator.EvaluateAsync(HeldOutEvaluator.SandboxPairs(_s.HeldOutPairs, _s.HeldOutSeed, sandbox), options, cancellationToken).ConfigureAwait(false);
        }

        if (_evalPairs is not null)
        {
            OnPhase?.Invoke(_s.Steps, "eval-pairs");
            evalPairs = await evaluator.EvaluateAsync(_evalPairs, options, cancellationToken).ConfigureAwait(false);
        }

        var steps = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(_s.MetricsPath);
        return new TrainResult(steps, heldOut, start, runId, evalPairs);
    }

    /// <summary>Loads the checkpoint, checks its run against the metrics file, trims metrics past its step; returns the next step and the run id.</summary>
    private async Task<(int Start, string RunId)> ResumeAsync(CancellationToken ct)
    {
        CheckpointReply cp;
        try
        {
            cp = await _client.LoadCheckpointAsync(_s.CheckpointNameOrDefault, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (R2MClientException e) when (e.StatusCode == Grpc.Core.StatusCode.NotFound)
        {
            throw new R2MClientException($"--resume: the server has no checkpoint '{_s.CheckpointNameOrDefault}' ({e.Message})", e.StatusCode, e.Attempts, e);
        }

        ClientState state = ClientState.Decode(cp.ClientState.Span, _s.CheckpointNameOrDefault);
        string runId = RunFolder.CheckResume(_s.MetricsPath, _s.CheckpointNameOrDefault, state);
        if (File.Exists(_s.MetricsPath))
        {
            var kept = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(_s.MetricsPath).Where(m => m.Step <= state.Step).ToArray();
            File.Delete(_s.MetricsPath);
            using var w = new MetricsJsonlWriter(_s.MetricsPath);
            foreach (var m in kept)
            {
                w.Write(m);
            }
        }

        return (state.Step + 1, runId);
    }

    private async Task<VariantStepMetrics> StepAsync(int step, string runId, Stopwatch clock, CancellationToken ct)
    {
        // Prompts and the sampler seed are pure functions of (seed, step): a resumed run sees
        // exactly the prompts the interrupted one would have.
        ulong stepSeed = StepSeed(_s.Seed, step);
        IReadOnlyList<string> prompts = _task.Prompts(_s.Seed, step, _s.Steps, _s.Prompts);

        OnPhase?.Invoke(step, "generate");
        var request = new GenerateRequest { SamplesPerPrompt = (uint)_s.K, Sampling = Sampling(stepSeed) };
        request.Prompts.AddRange(prompts.Select(p => new Prompt { Text = p }));
        IReadOnlyList<Rollout> rollouts = await _client.GenerateAsync(request, ct).ConfigureAwait(false);
        if (rollouts.Count != _s.Prompts * _s.K)
        {
            throw new InvalidDataException($"step {step}: Generate returned {rollouts.Count} rollouts, expected {_s.Prompts} prompts x K={_s.K}");
        }

        OnPhase?.Invoke(step, "score");
        var schedule = Schedule(step);
        var replies = await _client.ScoreRolloutsAsync(rollouts.Select(r => r.RolloutId).ToArray(),
            new ScoreOptions { Variant = _variant, Schedule = schedule }, ct).ConfigureAwait(false);
        double[] rewards = Rewards(replies, rollouts, step);
        double?[] gold = rollouts.Select(r => _task.Gold(prompts[(int)r.PromptIndex], r.ResponseText)).ToArray();
        bool hasGold = gold.All(g => g.HasValue);
        if (_task.Labels == PairLabelSource.Gold && !hasGold)
        {
            throw new InvalidDataException($"step {step}: task {_task.Name} picks pairs by gold, but a response has no gold reward");
        }

        StepBatch batch = StepBatch.Build(step, rollouts, rewards, gold, _task.Labels, _s.ServerAdvantages, _algorithm, _s.AdvantageEpsilon);
        var items = batch.Items;
        var prefGroups = batch.Groups;
        var seams = batch.Seams;
        var grouped = batch.Grouped;

        OnPhase?.Invoke(step, "optimize");
        OptimizeReply opt = await _client.OptimizeAsync(OptimizeConfig(), items, ct).ConfigureAwait(false);

        UpdateReply? upd = null;
        if (!Variants.FreezesRewardModel(_variant))
        {
            OnPhase?.Invoke(step, "update");
            upd = await _client.UpdateAsync(UpdateConfig(schedule), prefGroups, ct).ConfigureAwait(false);
        }

        (double Reward, double? Gold)? eval = null;
        if (_evalPrompts is not null && ((_s.EvalEvery > 0 && step % _s.EvalEvery == 0) || step == _s.Steps))
        {
            OnPhase?.Invoke(step, "eval");
            eval = await EvaluateAsync(_evalPrompts, step, ct).ConfigureAwait(false);
        }

        ResponseStats? stats = _task.Stats(rollouts.Select(r => (prompts[(int)r.PromptIndex], r.ResponseText)).ToArray());
        double[] groupedRewards = grouped.Select(x => x.Reward).ToArray();
        RolloutSummary? summary = hasGold ? RolloutMetrics.Summarize(groupedRewards, grouped.Select(x => x.Gold).ToArray(), _s.K) : null;
        return new VariantStepMetrics
        {
            Variant = Variants.DisplayName(_variant),
            Seed = _s.Seed,
            Step = step,
            Task = _task.Name,
            RunId = runId,
            PairLabels = _task.Labels == PairLabelSource.RewardModel ? null : PairLabels.Describe(_task.Labels),
            GoldReward = stats?.MeanGold,
            ProxyReward = rewards.Average(),
            Kl = opt.Kl,
            Entropy = opt.HasEntropy ? opt.Entropy : null,
            BangRate = stats?.BangRate,
            // Sandbox: symbols up to EOS; other tasks: response tokens without EOS.
            MeanResponseLength = stats?.MeanLength ?? rollouts.Average(r => r.ResponseTokenIds.Count - (r.FinishReason == FinishReason.Eos ? 1.0 : 0.0)),
            PolicyLoss = opt.PolicyLoss,
            BtLoss = upd?.BtLoss,
            GreLoss = upd?.GreLoss,
            Seam = seams.Count > 0 ? seams.Average() : null,
            Omega = replies.Count > 0 ? replies[0].Omega : null,
            OnPolicyAccuracy = summary?.OnPolicyAccuracy,
            RewardGroupStd = RolloutMetrics.MeanGroupStd(groupedRewards, _s.K),
            DegenerateGroupShare = RolloutMetrics.DegenerateShare(groupedRewards, _s.K),
            GoldTiedGroupShare = summary?.GoldTiedGroupShare,
            FusedShare = Variants.HasFusedPath(_variant) ? FusedShare(replies, rewards) : null,
            EvalReward = eval?.Reward,
            EvalGold = eval?.Gold,
            RmVersion = upd?.RmVersion ?? replies.Max(x => x.RmVersion),
            PolicyVersion = opt.PolicyVersion,
            ElapsedSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        };
    }

    /// <summary>
    /// The fused path's share of this step's reward variance (RolloutMetrics.FusedShare). phi is
    /// linear (docs/method.md section 2), so r = omega phi·H_last + (1 - omega) phi·Ĥ + b and
    /// vanilla_reward = phi·H_last + b: r - omega vanilla_reward is the fused part plus a constant,
    /// which leaves its variance unchanged.
    /// </summary>
    private static double? FusedShare(IReadOnlyList<ScoreReply> replies, double[] rewards) =>
        RolloutMetrics.FusedShare([.. replies.Select(r => (double)r.Reward - (double)r.Omega * r.VanillaReward)], rewards);

    /// <summary>
    /// One response per evaluation prompt (K = 1, the run's sampling with one fixed seed, so every
    /// evaluation of a run sees the same sampler stream), scored at step t like the training
    /// rollouts: mean RM reward, and mean gold when the task has gold for every prompt.
    /// </summary>
    private async Task<(double Reward, double? Gold)> EvaluateAsync(IReadOnlyList<string> prompts, int step, CancellationToken ct)
    {
        var request = new GenerateRequest { SamplesPerPrompt = 1, Sampling = Sampling(StepSeed(_s.Seed, 0)) };
        request.Prompts.AddRange(prompts.Select(p => new Prompt { Text = p }));
        IReadOnlyList<Rollout> rollouts = await _client.GenerateAsync(request, ct).ConfigureAwait(false);
        var replies = await _client.ScoreRolloutsAsync(rollouts.Select(r => r.RolloutId).ToArray(),
            new ScoreOptions { Variant = _variant, Schedule = Schedule(step) }, ct).ConfigureAwait(false);
        double[] rewards = Rewards(replies, rollouts, step);
        double?[] gold = rollouts.Select(r => _task.Gold(prompts[(int)r.PromptIndex], r.ResponseText)).ToArray();
        return (rewards.Average(), gold.All(g => g.HasValue) ? gold.Average() : null);
    }

    private double[] Rewards(IReadOnlyList<ScoreReply> replies, IReadOnlyList<Rollout> rollouts, int step)
    {
        var rewards = new double[replies.Count];
        for (int i = 0; i < replies.Count; i++)
        {
            if (replies[i].Error is { } e)
            {
                throw new InvalidDataException($"step {step}: Score of rollout {rollouts[i].RolloutId} failed: {(Grpc.Core.StatusCode)e.Code}: {e.Message}");
            }

            rewards[i] = replies[i].Reward;
        }

        return rewards;
    }

    private Schedule Schedule(int step) => new()
    {
        Step = (ulong)step,
        TotalSteps = (ulong)_s.Steps,
        OmegaFloor = (float)_s.OmegaFloor,
    };

    private SamplingParams Sampling(ulong seed)
    {
        var p = new SamplingParams
        {
            Temperature = (float)_s.Temperature,
            TopK = (uint)_s.TopK,
            MaxNewTokens = (uint)_s.MaxNewTokens,
            Seed = seed,
        };
        if (_s.TopP is { } topP)
        {
            p.TopP = (float)topP;
        }

        return p;
    }

    private OptimizeConfig OptimizeConfig()
    {
        var c = new OptimizeConfig
        {
            Algorithm = _algorithm,
            ClipEpsilon = (float)_s.ClipEpsilon,
            Beta = (float)_s.Beta,
            Epochs = (uint)_s.Epochs,
            MinibatchSize = (uint)_s.MinibatchSize,
            Aggregation = Choices.Aggregation(_s.Aggregation),
            AdvantageEpsilon = (float)_s.AdvantageEpsilon,
        };
        if (_s.ClipEpsilonHigh is { } high)
        {
            c.ClipEpsilonHigh = (float)high;
        }

        if (_s.PolicyLr is { } lr)
        {
            c.LearningRate = (float)lr;
        }

        if (_s.MaxGradNorm is { } g)
        {
            c.MaxGradNorm = (float)g;
        }

        return c;
    }

    private UpdateConfig UpdateConfig(Schedule schedule)
    {
        var c = new UpdateConfig
        {
            Variant = _variant,
            Alpha = (float)_s.Alpha,
            PairSelection = Choices.PairSelection(_s.PairSelection),
            Schedule = schedule,
            Steps = (uint)_s.RmSteps,
        };
        if (_s.RmLr is { } lr)
        {
            c.LearningRate = (float)lr;
        }

        return c;
    }

    /// <summary>A per-step seed (SplitMix64 finalizer of seed and step), so steps are independent streams.</summary>
    internal static ulong StepSeed(ulong seed, int step)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + (ulong)step;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>
/// The trainer's opaque client_state in a checkpoint (JSON): the last finished step, the run's
/// name and its id (<see cref="RunFolder"/>; null in checkpoints saved before run ids).
/// </summary>
public sealed record ClientState(int Step, string Run, string? RunId = null)
{
    public static byte[] Encode(ClientState state) => JsonSerializer.SerializeToUtf8Bytes(state);

    public static ClientState Decode(ReadOnlySpan<byte> bytes, string checkpoint)
    {
        try
        {
            return JsonSerializer.Deserialize<ClientState>(bytes) is { Step: >= 0 } s
                ? s
                : throw new InvalidDataException($"checkpoint '{checkpoint}': client_state has no valid step");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"checkpoint '{checkpoint}': client_state is not r2m-client's JSON ({e.Message}); was it saved by another trainer?", e);
        }
    }
}
