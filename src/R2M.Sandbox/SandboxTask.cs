using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>What a task is for in the study (docs/study.md).</summary>
public enum SandboxTaskRole
{
    /// <summary>The method is predicted not to help; an apparent gain here is noise or a bug.</summary>
    NegativeControl,

    /// <summary>A diagnostic that is not the method (gold labels): it shows the pipeline can show a gain.</summary>
    PositiveControl,

    /// <summary>A test of the method's mechanism, where it could work or fail.</summary>
    MechanismTest,
}

/// <summary>
/// One sandbox task: which models to build (<see cref="Models"/>, a template whose seed is replaced
/// per run), the RL prompts of every step (<see cref="Schedule"/>), the gold reward, and where the
/// online GREBT pairs come from (<see cref="Labels"/>). Everything is a pure function of a seed.
/// The registry is <see cref="SandboxTasks"/>; docs/sandbox.md describes each task and the API.
/// </summary>
public sealed record SandboxTask
{
    /// <summary>Registry name, e.g. "spurious".</summary>
    public required string Name { get; init; }

    public required SandboxTaskRole Role { get; init; }

    /// <summary>One line: what the task varies and why.</summary>
    public required string Summary { get; init; }

    /// <summary>Model sizes, data and training settings; <see cref="SandboxModelOptions.Seed"/> is replaced by <see cref="ModelOptions"/>.</summary>
    public required SandboxModelOptions Models { get; init; }

    /// <summary>Name of the model set: tasks with the same models share it (oracle-labels uses spurious's).</summary>
    public required string ModelSet { get; init; }

    /// <summary>Digit counts of the RL prompts per step.</summary>
    public required DigitSchedule Schedule { get; init; }

    /// <summary>Who picks the online BT pair. <see cref="PairLabelSource.Gold"/> is a diagnostic, not R2M.</summary>
    public PairLabelSource Labels { get; init; } = PairLabelSource.RewardModel;

    /// <summary>Checks the models, the schedule and that the schedule starts on the models' training window.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(Name);
        ArgumentNullException.ThrowIfNull(Models);
        ArgumentNullException.ThrowIfNull(Schedule);
        Models.Validate();
        Schedule.Validate();
        if (Schedule.StartMin != Models.Task.MinDigits || Schedule.StartMax != Models.Task.MaxDigits)
        {
            throw new ArgumentException($"task '{Name}': the schedule starts at {Schedule.StartMin}-{Schedule.StartMax} digits but the models are trained on " +
                $"{Models.Task.MinDigits}-{Models.Task.MaxDigits}; RL must start on the SFT distribution");
        }
        if (!Enum.IsDefined(Labels)) throw new ArgumentException($"task '{Name}': unknown label source {Labels}");
    }

    /// <summary>The model options of one seed (the study builds one model set per seed).</summary>
    public SandboxModelOptions ModelOptions(ulong seed) => Models with { Seed = seed };

    /// <summary>Where this task's models of <paramref name="seed"/> live under <paramref name="root"/>: root/ModelSet/seed-N.</summary>
    public string ModelDirectory(string root, ulong seed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        return Path.Combine(root, ModelSet, $"seed-{seed}");
    }

    /// <summary>Trains (or finds current) this task's models of <paramref name="seed"/> under <paramref name="root"/>.</summary>
    public Task<SandboxModelPaths> EnsureModelsAsync(string root, ulong seed, IProgress<string>? progress = null, CancellationToken cancellationToken = default) =>
        SandboxModels.EnsureAsync(ModelDirectory(root, seed), ModelOptions(seed), progress, cancellationToken);

    /// <summary>The task options with the digit window of <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public SandboxOptions OptionsAt(int step, int totalSteps)
    {
        (int min, int max) = Schedule.Range(step, totalSteps);
        return Models.Task with { MinDigits = min, MaxDigits = max };
    }

    /// <summary>
    /// The <paramref name="count"/> RL prompts of 1-based <paramref name="step"/> of a run with seed
    /// <paramref name="runSeed"/>: a pure function of (runSeed, step, totalSteps), so a resumed run
    /// sees the prompts the interrupted one would have; the first n prompts do not depend on count.
    /// </summary>
    public IReadOnlyList<SortPrompt> Prompts(ulong runSeed, int step, int totalSteps, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        SandboxOptions options = OptionsAt(step, totalSteps);
        var random = SandboxRandom.Derive(runSeed, SeedStreams.ForStep(SeedStreams.StepPrompts, step));
        var prompts = new SortPrompt[count];
        for (int i = 0; i < count; i++)
        {
            prompts[i] = PromptGenerator.NextPrompt(random, options);
        }
        return prompts;
    }

    /// <summary>Gold-labelled held-out pairs (<see cref="SandboxData.HeldOut"/>) on the digit window of a step (t = T: the final window).</summary>
    public IReadOnlyList<PreferencePair> HeldOut(int count, ulong seed, int step, int totalSteps) =>
        SandboxData.HeldOut(count, seed, OptionsAt(step, totalSteps));

    /// <summary>The true reward of a response (<see cref="GoldReward"/>; the same for every task).</summary>
    public double Gold(SortPrompt prompt, string? response) => GoldReward.Score(prompt, response);

    /// <summary>The rewards that pick each group's GREBT pair under <see cref="Labels"/> (<see cref="PairLabels.SelectionRewards"/>).</summary>
    public double[] SelectionRewards(IReadOnlyList<double> rewardModel, IReadOnlyList<double> gold) =>
        PairLabels.SelectionRewards(Labels, rewardModel, gold);

    /// <summary>This task with gold-chosen pairs: the oracle row of the study (a diagnostic, not R2M).</summary>
    public SandboxTask WithGoldLabels() => Labels == PairLabelSource.Gold ? this : this with
    {
        Name = Name + "+gold-pairs",
        Role = SandboxTaskRole.PositiveControl,
        Summary = Summary + " With GREBT pairs chosen by the gold reward (diagnostic positive control, not R2M).",
        Labels = PairLabelSource.Gold,
    };
}
