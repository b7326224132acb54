namespace R2M.Client.Training;

/// <summary>
/// Settings of <c>r2m-client demo</c> beyond the training hyperparameters (which come from
/// <see cref="TrainSettings"/> and apply to every variant). Flags are kebab-case of the names.
/// </summary>
public sealed class DemoSettings
{
    [Setting("use this running server (host:port) instead of starting one")]
    public string? Server { get; set; }

    [Setting("r2m-server.dll or executable to start (default: found beside r2m-client or in the repository's build output)")]
    public string? ServerExe { get; set; }

    [Setting("folder of the sandbox models (trained there when absent or stale)")]
    public string ModelsDir { get; set; } = Path.Combine(".sandbox", "models");

    [Setting("output folder: metrics, plots, report.md")]
    public string Out { get; set; } = Path.Combine("artifacts", "demo");

    [Setting("seeds per variant (1..N)")]
    public int Seeds { get; set; } = 1;

    [Setting("comma-separated variants to run (default: all eight, paper order)")]
    public string? Variants { get; set; }

    [Setting("with --server: a reward-model checkpoint name loaded (reward_model_only) for pretrained-rm; without it that variant is skipped")]
    public string? PretrainedRmCheckpoint { get; set; }

    [Setting("only prepare the sandbox models and print their report")]
    public bool PrepareOnly { get; set; }

    public void Validate()
    {
        if (Seeds < 1)
        {
            throw new ArgumentException($"--seeds = {Seeds} must be >= 1");
        }

        _ = VariantList();
    }

    public IReadOnlyList<Api.V1.VariantConfig> VariantList() =>
        Variants is null
            ? Training.Variants.All
            : Variants.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Training.Variants.Parse).Distinct().ToArray();
}
