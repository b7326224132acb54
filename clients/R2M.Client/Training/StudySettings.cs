using System.Globalization;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>
/// Settings of <c>r2m-client study</c>, the pre-registered study of docs/study.md. The defaults
/// are the pre-registered values; changing one makes a different study (the plan file records
/// them, and a rerun into the same folder with other values is refused).
/// </summary>
public sealed class StudySettings
{
    [Setting("r2m-server.dll or executable to start (default: found beside r2m-client or in the repository's build output)")]
    public string? ServerExe { get; set; }

    [Setting("root folder of the per-task, per-seed sandbox models (trained there when absent or stale)")]
    public string ModelsDir { get; set; } = Path.Combine(".sandbox", "study");

    [Setting("output folder: plan.json, runs/, rm-lr.json, results.md, plots/")]
    public string Out { get; set; } = Path.Combine("artifacts", "study");

    [Setting("comma-separated tasks (model sets); each gets the nine rows, its oracle row is TASK+gold-pairs")]
    public string Tasks { get; set; } = "spurious,shift,beyond-semantics";

    [Setting("comma-separated test seeds (results)")]
    public string Seeds { get; set; } = "1,2,3,4,5";

    [Setting("comma-separated validation seeds (RM learning-rate choice only; never reported as results)")]
    public string ValidationSeeds { get; set; } = "101,102";

    [Setting("comma-separated RM learning-rate grid, chosen per task on the validation seeds with R2M")]
    public string RmLrGrid { get; set; } = "1e-6,1e-4,1e-3,1e-2";

    [Setting("steps at the end of a run whose mean gold reward is G, the primary metric")]
    public int Window { get; set; } = 10;

    [Setting("held-out gold pairs of the final digit window scored at t = T with and without policy feedback (0 = skip)")]
    public int HeldOutPairs { get; set; } = 200;

    [Setting("only list the runs of the plan and what is already done")]
    public bool DryRun { get; set; }

    public IReadOnlyList<SandboxTask> TaskList() => Split(Tasks, "--tasks").Select(SandboxTasks.Get).ToArray();

    public IReadOnlyList<ulong> SeedList() => ParseSeeds(Seeds, "--seeds");

    public IReadOnlyList<ulong> ValidationSeedList() => ParseSeeds(ValidationSeeds, "--validation-seeds");

    public IReadOnlyList<double> RmLrList() => Split(RmLrGrid, "--rm-lr-grid").Select(x =>
        double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v)
            ? v : throw new ArgumentException($"--rm-lr-grid: '{x}' is not a positive number")).ToArray();

    public void Validate()
    {
        _ = TaskList();
        var test = SeedList();
        var validation = ValidationSeedList();
        if (test.Intersect(validation).ToArray() is { Length: > 0 } both)
        {
            throw new ArgumentException($"seed(s) {string.Join(", ", both)} both test and validation seeds; the RM learning rate must be chosen on separate seeds");
        }

        if (RmLrList().Count == 0) throw new ArgumentException("--rm-lr-grid is empty");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Window, "--window");
        ArgumentOutOfRangeException.ThrowIfNegative(HeldOutPairs, "--held-out-pairs");
    }

    private static string[] Split(string s, string flag)
    {
        string[] parts = (s ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length > 0 ? parts : throw new ArgumentException($"{flag} is empty");
    }

    private static ulong[] ParseSeeds(string s, string flag)
    {
        ulong[] seeds = Split(s, flag).Select(x => ulong.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v)
            ? v : throw new ArgumentException($"{flag}: '{x}' is not a seed (a non-negative integer)")).ToArray();
        return seeds.Distinct().Count() == seeds.Length ? seeds : throw new ArgumentException($"{flag}: a seed is listed twice");
    }
}
