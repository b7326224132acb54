namespace R2M.Sandbox;

/// <summary>
/// The registry of sandbox tasks (docs/sandbox.md "Tasks"; the pre-registration in docs/study.md).
/// Their parameters were fixed from the principles written beside them before any R2M run on them;
/// they must not be tuned until R2M wins.
/// </summary>
public static class SandboxTasks
{
    public const string SpuriousName = "spurious";
    public const string OracleLabelsName = "oracle-labels";
    public const string ShiftName = "shift";
    public const string BeyondSemanticsName = "beyond-semantics";

    /// <summary>Today's '!' task: the RM confidently rewards a planted feature. Negative control.</summary>
    public static SandboxTask Spurious { get; } = new()
    {
        Name = SpuriousName,
        Role = SandboxTaskRole.NegativeControl,
        Summary = "The proxy RM is trained on pairs whose winners carry a spurious '!' and rewards it confidently; " +
            "GREBT's own-score pairs then carry '!' too, so R2M is predicted to do no better than vanilla.",
        Models = new SandboxModelOptions(),
        ModelSet = SpuriousName,
        Schedule = DigitSchedule.Fixed(3, 6),
    };

    /// <summary>The spurious task with GREBT pairs chosen by the gold reward: a diagnostic positive control, not R2M.</summary>
    public static SandboxTask OracleLabels { get; } = Spurious with
    {
        Name = OracleLabelsName,
        Role = SandboxTaskRole.PositiveControl,
        Summary = "The spurious task, but each group's GREBT winner and loser come from the gold reward " +
            "(diagnostic positive control, not R2M): what re-aligning the head can do when its pairs are right.",
        Labels = PairLabelSource.Gold,
    };

    /// <summary>
    /// An honest RM of the SFT distribution (3-6 digits, no planting) while the RL prompts grow to
    /// 6-9 digits in four equal phases: the frozen RM extrapolates, with no confidently learned artefact.
    /// </summary>
    public static SandboxTask Shift { get; } = new()
    {
        Name = ShiftName,
        Role = SandboxTaskRole.MechanismTest,
        Summary = "The RM is trained only on unplanted gold pairs of the SFT distribution (3-6 digits); the RL prompts move " +
            "to 6-9 digits in four equal phases, so the frozen RM's errors are extrapolation, not a learned artefact.",
        Models = new SandboxModelOptions { Task = new SandboxOptions { RewardPairs = RewardPairKind.Unplanted } },
        ModelSet = ShiftName,
        Schedule = new DigitSchedule(3, 6, Shift: 3),
    };

    /// <summary>
    /// A weak RM backbone (hidden 16, 1 layer, about 4k parameters) against the 87k-parameter policy,
    /// trained on the same unplanted pairs as shift's RM with the same steps: the difference is capacity alone.
    /// </summary>
    public static SandboxTask BeyondSemantics { get; } = new()
    {
        Name = BeyondSemanticsName,
        Role = SandboxTaskRole.MechanismTest,
        Summary = "The RM backbone is much weaker than the policy (hidden 16 x 1 layer vs the policy's 64 x 2), trained like shift's RM: " +
            "the policy's hidden states may hold quality information the RM's own embedding lacks.",
        Models = new SandboxModelOptions
        {
            Task = new SandboxOptions { RewardPairs = RewardPairKind.Unplanted },
            RewardHiddenSize = 16,
            RewardLayers = 1,
            RewardHeads = 2,
            RewardIntermediateSize = 64,
        },
        ModelSet = BeyondSemanticsName,
        Schedule = DigitSchedule.Fixed(3, 6),
    };

    /// <summary>Every task, in the order of docs/sandbox.md.</summary>
    public static IReadOnlyList<SandboxTask> All { get; } = [Spurious, OracleLabels, Shift, BeyondSemantics];

    /// <summary>Every registry name.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(t => t.Name).ToArray();

    /// <summary>Suffix of a task name that selects <see cref="SandboxTask.WithGoldLabels"/> (the study's oracle row).</summary>
    public const string GoldPairsSuffix = "+gold-pairs";

    /// <summary>
    /// The task called <paramref name="name"/> (case-insensitive; '_' counts as '-'); "NAME+gold-pairs"
    /// is that task with GREBT pairs chosen by the gold reward (a diagnostic). The error lists the names.
    /// </summary>
    public static SandboxTask Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().Replace('_', '-');
        bool gold = key.EndsWith(GoldPairsSuffix, StringComparison.OrdinalIgnoreCase);
        if (gold)
        {
            key = key[..^GoldPairsSuffix.Length];
        }

        SandboxTask task = All.FirstOrDefault(t => string.Equals(t.Name, key, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"unknown sandbox task '{name}'; the tasks are: {string.Join(", ", Names)} (each also as NAME{GoldPairsSuffix})", nameof(name));
        return gold ? task.WithGoldLabels() : task;
    }
}
