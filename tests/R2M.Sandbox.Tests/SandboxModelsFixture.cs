namespace R2M.Sandbox.Tests;

/// <summary>Tiny settings (seconds to train) and a temporary directory per test.</summary>
internal static class TinySandbox
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    public static SandboxModelOptions Options(ulong seed = 7) => new()
    {
        Seed = seed,
        PolicyHiddenSize = 16,
        PolicyLayers = 1,
        PolicyHeads = 2,
        PolicyIntermediateSize = 32,
        SftExamples = 300,
        SftSteps = 40,
        SftBatchSize = 16,
        RewardHiddenSize = 24,
        RewardLayers = 1,
        RewardHeads = 2,
        RewardIntermediateSize = 32,
        RewardPairs = 300,
        RewardSteps = 40,
        RewardBatchSize = 16,
        GoldPairs = 200,
        GoldSteps = 20,
        WarmupSteps = 4,
        EvalSamples = 32,
        EvalMaxNewTokens = 12,
        EvalPairs = 64,
    };

    public static string NewDirectory() => Path.Combine(Path.GetTempPath(), "r2m-sandbox-models-" + Guid.NewGuid().ToString("N"));

    public static Task<SandboxModelPaths> EnsureAsync(string dir, SandboxModelOptions options, CancellationToken ct = default) =>
        SandboxModels.EnsureAsync(dir, options, null, ct).WaitAsync(Timeout, CancellationToken.None);

    public static void Delete(string dir)
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

/// <summary>One tiny sandbox shared by the read-only tests of <see cref="SandboxModelsTests"/>.</summary>
public sealed class SandboxModelsFixture : IAsyncLifetime
{
    public string Directory { get; } = TinySandbox.NewDirectory();

    public SandboxModelOptions Options { get; } = TinySandbox.Options();

    public SandboxModelPaths Paths { get; private set; } = null!;

    public async Task InitializeAsync() => Paths = await TinySandbox.EnsureAsync(Directory, Options);

    public Task DisposeAsync()
    {
        TinySandbox.Delete(Directory);
        return Task.CompletedTask;
    }
}
