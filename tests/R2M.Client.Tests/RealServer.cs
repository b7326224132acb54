using R2M.Sandbox;

namespace R2M.Client.Tests;

/// <summary>
/// The real r2m-server process for end-to-end tests: its built output (src/R2M.Server/bin), the
/// sandbox models trained once per checkout with small test settings into .sandbox/test-models
/// (SandboxModels holds a lock file, so test projects running in parallel share one build).
/// Shared as a linked source file by R2M.Client.Tests and R2M.Api.Tests.
/// </summary>
internal static class RealServer
{
    private static readonly Lazy<Task<SandboxModelPaths>> Models = new(() =>
        SandboxModels.EnsureAsync(Path.Combine(RepoRoot(), ".sandbox", "test-models"), TestModelOptions));

    /// <summary>Smaller than the demo's models: the tests check plumbing, not learning.</summary>
    public static SandboxModelOptions TestModelOptions { get; } = new()
    {
        SftExamples = 1500,
        SftSteps = 120,
        RewardPairs = 1500,
        RewardSteps = 80,
        GoldPairs = 500,
        GoldSteps = 20,
        EvalSamples = 32,
        EvalPairs = 100,
    };

    public static Task<SandboxModelPaths> ModelsAsync() => Models.Value;

    /// <summary>Starts r2m-server on 127.0.0.1 (port 0 = a free port unless given); <paramref name="extraArgs"/> go to its command line.</summary>
    public static async Task<ServerProcess> StartAsync(string checkpointRoot, string? apiKey = null, int port = 0, bool goldRm = false, IReadOnlyList<string>? extraArgs = null)
    {
        SandboxModelPaths models = await ModelsAsync().WaitAsync(TimeSpan.FromMinutes(4));
        return await ServerProcess.StartAsync(new ServerLaunch
        {
            ServerPath = ServerLocator.Find(),
            PolicyPath = models.Policy,
            RewardModelPath = goldRm ? models.GoldRewardModel : models.RewardModel,
            Port = port,
            CheckpointRoot = checkpointRoot,
            ApiKey = apiKey,
            ExtraArgs = extraArgs ?? [],
            StartTimeout = TimeSpan.FromSeconds(90),
        }).WaitAsync(TimeSpan.FromSeconds(120));
    }

    public static string RepoRoot() =>
        ServerLocator.FindRoot(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException($"R2M.Grpc.sln not found above {AppContext.BaseDirectory}; set R2M_REPO_ROOT");

    public static string TempDir(string what)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"r2m-{what}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
