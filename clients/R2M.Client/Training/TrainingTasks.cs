using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>
/// What <see cref="R2MTrainer"/> trains on: the prompts of each step and, when the task has one,
/// the gold reward of a response (docs/method.md section 1 needs only the prompts; gold is for
/// measurement and for the oracle diagnostic). Prompts are a pure function of (run seed, step, T),
/// so a resumed run sees the prompts the interrupted one would have.
/// </summary>
internal interface ITrainingTask
{
    /// <summary>Name written into every metrics line (<see cref="VariantStepMetrics.Task"/>).</summary>
    string Name { get; }

    /// <summary>
    /// Who picks each group's GREBT winner and loser. <see cref="PairLabelSource.Gold"/> sends gold
    /// as the members' annotation rewards: a diagnostic positive control, not R2M.
    /// </summary>
    PairLabelSource Labels { get; }

    /// <summary>The sandbox options of a step (held-out sort pairs); null when the task is not the sandbox.</summary>
    SandboxOptions? SandboxAt(int step, int totalSteps);

    /// <summary>The <paramref name="count"/> prompt texts of 1-based <paramref name="step"/> of a T-step run.</summary>
    IReadOnlyList<string> Prompts(ulong runSeed, int step, int totalSteps, int count);

    /// <summary>The gold reward of <paramref name="response"/> to <paramref name="prompt"/>; null when the task has none for it.</summary>
    double? Gold(string prompt, string response);

    /// <summary>Gold-side statistics of a batch (mean gold, '!' rate, length); null when the task has no gold.</summary>
    ResponseStats? Stats(IReadOnlyList<(string Prompt, string Response)> responses);
}

/// <summary>
/// A sandbox task of <see cref="SandboxTasks"/> (docs/sandbox.md "Tasks"). Prompts come from
/// <see cref="PromptGenerator"/> seeded with <see cref="R2MTrainer.StepSeed"/> on the task's digit
/// window of the step: for the default task (spurious) exactly the prompts r2m-client drew before
/// tasks existed, so earlier metrics stay reproducible. (<see cref="SandboxTask.Prompts"/> draws from
/// another seed stream; the windows are the same.)
/// </summary>
internal sealed class SandboxTrainingTask(SandboxTask task) : ITrainingTask
{
    public SandboxTask Task { get; } = task ?? throw new ArgumentNullException(nameof(task));

    public string Name => Task.Name;

    public PairLabelSource Labels => Task.Labels;

    public SandboxOptions? SandboxAt(int step, int totalSteps) => Task.OptionsAt(step, totalSteps);

    public IReadOnlyList<string> Prompts(ulong runSeed, int step, int totalSteps, int count) =>
        new PromptGenerator(R2MTrainer.StepSeed(runSeed, step), Task.OptionsAt(step, totalSteps)).Take(count).Select(p => p.Text).ToArray();

    public double? Gold(string prompt, string response) =>
        SandboxText.TryParsePrompt(prompt, out SortPrompt? p) ? Task.Gold(p!, response) : null;

    public ResponseStats? Stats(IReadOnlyList<(string Prompt, string Response)> responses)
    {
        var parsed = new List<(SortPrompt, string)>(responses.Count);
        foreach ((string prompt, string response) in responses)
        {
            if (!SandboxText.TryParsePrompt(prompt, out SortPrompt? p))
            {
                return null;
            }

            parsed.Add((p!, response));
        }

        return ResponseStats.Compute(parsed);
    }
}

/// <summary>
/// The user's prompts (<c>--prompts-file</c>, read by <see cref="JsonlFile.ReadPrompts"/>): each step
/// takes the next n of a cycle through the file, each pass in its own seeded order, so every prompt
/// is used once per pass and the order is a pure function of (seed, step). No gold: gold metrics are null.
/// </summary>
internal sealed class PromptFileTask : ITrainingTask
{
    private readonly IReadOnlyList<string> _prompts;
    private readonly Dictionary<(ulong Seed, long Pass), int[]> _orders = [];

    public PromptFileTask(string path)
        : this(path, JsonlFile.ReadPrompts(path).Select(p => p.Prompt).ToArray())
    {
    }

    internal PromptFileTask(string name, IReadOnlyList<string> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0)
        {
            throw new ArgumentException($"{name}: no prompts", nameof(prompts));
        }

        Name = "prompts:" + Path.GetFileName(name);
        _prompts = prompts;
    }

    public string Name { get; }

    public int Count => _prompts.Count;

    public PairLabelSource Labels => PairLabelSource.RewardModel;

    public SandboxOptions? SandboxAt(int step, int totalSteps) => null;

    public IReadOnlyList<string> Prompts(ulong runSeed, int step, int totalSteps, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(step, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var result = new string[count];
        for (int j = 0; j < count; j++)
        {
            long i = ((long)(step - 1) * count) + j;
            long pass = i / _prompts.Count;
            result[j] = _prompts[Order(runSeed, pass)[(int)(i % _prompts.Count)]];
        }

        return result;
    }

    public double? Gold(string prompt, string response) => null;

    public ResponseStats? Stats(IReadOnlyList<(string Prompt, string Response)> responses) => null;

    /// <summary>Fisher-Yates permutation of the file's indices for one pass (SplitMix64 stream of seed and pass).</summary>
    private int[] Order(ulong seed, long pass)
    {
        if (_orders.TryGetValue((seed, pass), out int[]? order))
        {
            return order;
        }

        order = Enumerable.Range(0, _prompts.Count).ToArray();
        ulong state = R2MTrainer.StepSeed(seed ^ 0x5052_4F4D_5054_5331UL, (int)(pass & int.MaxValue)); // "PROMPTS1": a stream apart from the steps'
        for (int i = order.Length - 1; i > 0; i--)
        {
            state = R2MTrainer.StepSeed(state, i);
            int k = (int)(state % (ulong)(i + 1));
            (order[i], order[k]) = (order[k], order[i]);
        }

        if (_orders.Count > 64)
        {
            _orders.Clear(); // a run walks passes in order; old ones are not needed again
        }

        _orders[(seed, pass)] = order;
        return order;
    }
}

/// <summary>Builds the task a run's settings name.</summary>
internal static class TrainingTasks
{
    public static ITrainingTask From(TrainSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.PromptsFile is { } file
            ? new PromptFileTask(file)
            : new SandboxTrainingTask(SandboxTasks.Get(settings.Task ?? SandboxTasks.SpuriousName));
    }
}
