using Grpc.Core;
using R2M.Client.Cli;
using R2M.Client.Training;
using R2M.Sandbox;

namespace R2M.Client.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealServerCollection
{
    public const string Name = "real r2m-server";
}

/// <summary>One real r2m-server with an API key, shared by the tests of <see cref="EndToEndTests"/>.</summary>
public sealed class KeyedServerFixture : IAsyncLifetime
{
    public const string ApiKey = "e2e-secret";

    public ServerProcess Server { get; private set; } = null!;

    public string CheckpointRoot { get; } = RealServer.TempDir("cp");

    public async Task InitializeAsync() => Server = await RealServer.StartAsync(CheckpointRoot, ApiKey);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Directory.Delete(CheckpointRoot, recursive: true);
    }
}

/// <summary>
/// r2m-client against the real r2m-server process (built output) on a loopback port, on the
/// sandbox models: train, score, status, auth and the concurrency cap.
/// </summary>
[Collection(RealServerCollection.Name)]
public sealed class EndToEndTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task TrainCli_RealServer_StepsWriteMetricsPlotsAndCheckpoint()
    {
        string outDir = RealServer.TempDir("train");
        var output = new StringWriter();
        var error = new StringWriter();
        string keyFile = Path.Combine(outDir, "key");
        await File.WriteAllTextAsync(keyFile, KeyedServerFixture.ApiKey + "\n");
        int rc = await ClientCli.RunAsync(
            ["train", "--server", fixture.Server.Address, "--api-key-file", keyFile, "--steps", "3", "--prompts", "2", "--k", "3",
             "--max-new-tokens", "10", "--held-out-pairs", "16", "--checkpoint-every", "2", "--checkpoint-name", "e2e-train", "--out", outDir],
            output, error).WaitAsync(Limit);
        Assert.True(rc == 0, $"train failed ({rc}): {error}\n{output}\nserver:\n{fixture.Server.OutputTail}");

        var steps = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(Path.Combine(outDir, "metrics.jsonl"));
        Assert.Equal([1, 2, 3], steps.Select(s => s.Step));
        Assert.All(steps, s =>
        {
            Assert.Equal("R2M", s.Variant);
            Assert.InRange(s.GoldReward!.Value, 0, 1);
            Assert.True(double.IsFinite(s.ProxyReward));
            Assert.NotNull(s.Kl);
            Assert.InRange(s.Entropy!.Value, 0, Math.Log(SandboxVocabulary.VocabSize)); // at most ln V nats
            Assert.NotNull(s.BtLoss);
            Assert.NotNull(s.GreLoss);
            Assert.True(s.FusedShare >= 0 && double.IsFinite(s.FusedShare.Value), $"fused share {s.FusedShare}");
        });
        // omega(t) = max(0.5 cos(pi t / T) + 0.5, Omega): t=1, T=3 -> 0.75; t=3 -> the floor 0.6.
        Assert.Equal(0.75, steps[0].Omega!.Value, 3);
        Assert.Equal(0.6, steps[2].Omega!.Value, 3);
        // R2M updates the RM and the policy once per step: both versions grow by one per step.
        Assert.Equal(steps[0].RmVersion + 2, steps[2].RmVersion);
        Assert.Equal(steps[0].PolicyVersion + 2, steps[2].PolicyVersion);
        Assert.True(File.Exists(Path.Combine(outDir, "plots", "gold.svg")), output.ToString());
        Assert.True(File.Exists(Path.Combine(outDir, "plots", "grebt.svg")), output.ToString());
        Assert.Contains("RM held-out accuracy", output.ToString());
        Assert.True(Directory.Exists(Path.Combine(fixture.CheckpointRoot, "e2e-train")), "checkpoint directory");
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task TrainProcess_VanillaRloo_NoRewardModelUpdates()
    {
        // The r2m-client program itself, as a separate process (redirected: plain progress lines).
        string outDir = RealServer.TempDir("vanilla");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The client's own build output (its dependencies and runtimeconfig), not the copy beside the tests.
        string config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        string exe = Path.Combine(RealServer.RepoRoot(), "clients", "R2M.Client", "bin", config, "net10.0", "r2m-client.dll");
        foreach (string a in new[] { exe, "train", "--server", fixture.Server.Address,
            "--variant", "vanilla", "--algorithm", "rloo", "--steps", "2", "--prompts", "2", "--k", "2", "--max-new-tokens", "8",
            "--held-out-pairs", "0", "--plots", "false", "--out", outDir })
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["R2M_API_KEY"] = KeyedServerFixture.ApiKey;
        using var process = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Limit);
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"r2m-client train failed ({process.ExitCode}):\n{output}");
        Assert.Contains("VANILLA-seed1 1/2 gold", output);
        Assert.Contains("VANILLA-seed1 2/2 gold", output);
        Assert.DoesNotContain('\r', output);
        var steps = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(Path.Combine(outDir, "metrics.jsonl"));
        Assert.Equal([1, 2], steps.Select(s => s.Step));
        Assert.All(steps, s => Assert.Null(s.BtLoss));
        Assert.All(steps, s => Assert.Null(s.FusedShare)); // no fused path
        Assert.Equal(steps[0].RmVersion, steps[1].RmVersion);
        Assert.All(steps, s => Assert.Equal(1.0, s.Omega!.Value, 6));
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task MutatingCall_WithoutKey_UnauthenticatedAfterOneAttempt()
    {
        using var client = new R2MClient(new R2MClientOptions { Address = fixture.Server.Address });
        var e = await Assert.ThrowsAsync<R2MClientException>(() => client.ResetAsync().WaitAsync(Limit));
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Equal(1, e.Attempts);
        Assert.Contains("--api-key", e.Message);
    }

    [Fact]
    public async Task StatusAndScoreCli_RealServer_PrintModelsAndRewards()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync(["status", "--server", fixture.Server.Address], output, error).WaitAsync(Limit);
        Assert.True(rc == 0, error.ToString());
        Assert.Contains("policy:", output.ToString());
        Assert.Contains("reward model:", output.ToString());
        Assert.Contains("api key required for mutating calls", output.ToString());

        output = new StringWriter();
        rc = await ClientCli.RunAsync(["score", "--server", fixture.Server.Address, "--prompt", "sort 3 1 2 =", "--response", " 1 2 3",
            "--response", " 1 2 3 ! !", "--rollout-id", "no-such-rollout"], output, error).WaitAsync(Limit);
        Assert.Equal(1, rc); // the unknown rollout is an in-band NOT_FOUND
        string[] lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains("reward", lines[0]);
        Assert.Contains("rm_version", lines[1]);
        Assert.Contains("no-such-rollout: error NotFound", lines[2]);
    }

    [Fact]
    public async Task ScoreManyInlineItems_MoreThanServerInFlightLimit_WindowedAndAllAnswered()
    {
        var info = await new R2MClient(new R2MClientOptions { Address = fixture.Server.Address }).InfoAsync().WaitAsync(Limit);
        int n = (int)info.Limits.MaxScoreItemsInFlight * 2 + 10;
        using var client = new R2MClient(new R2MClientOptions { Address = fixture.Server.Address, MaxScoreItemsInFlight = 64 });
        var options = new Api.V1.ScoreOptions { Variant = Api.V1.VariantConfig.Vanilla };
        var items = Enumerable.Range(0, n).Select(i => new Api.V1.ScoreRequest
        {
            ItemId = $"i{i}",
            Inline = new Api.V1.InlineItem { PromptText = "sort 3 1 2 =", ResponseText = i % 2 == 0 ? " 1 2 3" : " 1 2 3 !" },
            Options = options,
        }).ToArray();
        var replies = await client.ScoreAsync(items).WaitAsync(Limit);
        Assert.Equal(items.Select(i => i.ItemId), replies.Select(r => r.ItemId));
        Assert.All(replies, r => Assert.Null(r.Error));
        // Same text, same weights: every even item gets one reward, every odd item another (up to
        // float rounding: dynamic batching puts items into batches of different sizes).
        float even = replies[0].Reward, odd = replies[1].Reward;
        Assert.All(replies.Where((_, i) => i % 2 == 0), r => Assert.Equal(even, r.Reward, 1e-4f));
        Assert.All(replies.Where((_, i) => i % 2 == 1), r => Assert.Equal(odd, r.Reward, 1e-4f));
        Assert.True(Math.Abs(even - odd) > 1e-3, $"the '!' response should score differently ({even} vs {odd})");
    }

    [Fact]
    public async Task ConcurrentCalls_RealServer_CapHolds()
    {
        using var client = new R2MClient(new R2MClientOptions { Address = fixture.Server.Address, MaxConcurrency = 2 });
        var infos = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.InfoAsync())).WaitAsync(Limit);
        Assert.All(infos, i => Assert.True(i.PolicyVersion >= 1));
        Assert.InRange(client.PeakConcurrency, 1, 2);
    }
}

/// <summary>
/// A server killed (SIGKILL) in the middle of a run: the client fails with a clear error after its
/// retries; a restarted server plus <c>--resume</c> continues from the checkpoint, the metrics hold
/// every step exactly once, and they are bit for bit those of a run that was never interrupted.
/// </summary>
[Collection(RealServerCollection.Name)]
public sealed class RestartResumeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task ServerBlip_RestartWithinRetryWindow_CallSucceedsAfterRetries()
    {
        string cpRoot = RealServer.TempDir("blip-cp");
        ServerProcess first = await RealServer.StartAsync(cpRoot);
        int port = first.Port;
        int retries = 0;
        using var client = new R2MClient(new R2MClientOptions
        {
            Address = first.Address,
            MaxAttempts = 60,
            InitialBackoff = TimeSpan.FromMilliseconds(200),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
            OnRetry = (_, _, e, _) => Interlocked.Increment(ref retries),
        });
        Assert.True((await client.InfoAsync().WaitAsync(Limit)).PolicyVersion >= 1);
        first.Kill();
        await first.DisposeAsync();
        Task<Api.V1.InfoReply> during = client.InfoAsync(); // retries while the server is down
        await Task.Delay(500);
        await using ServerProcess second = await RealServer.StartAsync(cpRoot, port: port);
        Api.V1.InfoReply info = await during.WaitAsync(Limit);
        Assert.True(info.PolicyVersion >= 1);
        Assert.True(retries >= 1, "the call should have been retried while the server was down");
        Directory.Delete(cpRoot, recursive: true);
    }

    [Fact]
    public async Task ServerKilledMidStep_RestartAndResume_NoStepLostOrRepeatedAndMetricsOfAnUninterruptedRun()
    {
        string cpRoot = RealServer.TempDir("resume-cp");
        string outDir = RealServer.TempDir("resume-out");
        // One Score item per backbone pass: an RTE's last bits depend on what else shares its padded batch
        // (docs/server.md, "Reproducibility"); the head and everything after it do not.
        string[] oneByOne = ["--max-batch", "1"];
        var settings = new TrainSettings
        {
            Steps = 4, Prompts = 2, K = 2, MaxNewTokens = 8, HeldOutPairs = 0, Plots = false,
            CheckpointEvery = 1, CheckpointName = "resume-run", Out = outDir, Retries = 3, BackoffMs = 50, MaxBackoffMs = 200,
        };
        ServerProcess first = await RealServer.StartAsync(cpRoot, extraArgs: oneByOne);
        int port = first.Port;
        R2MClientException failure;
        try
        {
            settings.Server = first.Address;
            using var client = new R2MClient(settings.ToClientOptions());
            var trainer = new R2MTrainer(client, settings)
            {
                // The crash lands inside step 3, after its rollouts were generated.
                OnPhase = (step, phase) =>
                {
                    if (step == 3 && phase == "score")
                    {
                        first.Kill();
                    }
                },
            };
            failure = await Assert.ThrowsAsync<R2MClientException>(() => trainer.RunAsync().WaitAsync(Limit));
        }
        finally
        {
            await first.DisposeAsync();
        }

        Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
        Assert.Equal(3, failure.Attempts);
        Assert.StartsWith("RewardModel.Score failed after 3 attempts", failure.Message);
        string metrics = Path.Combine(outDir, "metrics.jsonl");
        Assert.Equal([1, 2], MetricsJsonlWriter.ReadAll<VariantStepMetrics>(metrics).Select(s => s.Step));

        // Restart on the same port and resume through the CLI.
        await using ServerProcess second = await RealServer.StartAsync(cpRoot, port: port, extraArgs: oneByOne);
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync(
            ["train", "--server", second.Address, "--steps", "4", "--prompts", "2", "--k", "2", "--max-new-tokens", "8", "--held-out-pairs", "0",
             "--plots", "false", "--checkpoint-every", "1", "--checkpoint-name", "resume-run", "--out", outDir, "--resume"],
            output, error).WaitAsync(Limit);
        Assert.True(rc == 0, $"resume failed ({rc}): {error}\n{output}\nserver:\n{second.OutputTail}");
        Assert.Contains("resumed from checkpoint 'resume-run' at step 3", output.ToString());
        var steps = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(metrics);
        Assert.Equal([1, 2, 3, 4], steps.Select(s => s.Step));
        // The restarted server continued from the checkpoint's weights: versions keep growing.
        Assert.True(steps[2].PolicyVersion > steps[1].PolicyVersion, $"policy_version {steps[1].PolicyVersion} -> {steps[2].PolicyVersion}");
        Assert.True(steps[2].RmVersion > steps[1].RmVersion, $"rm_version {steps[1].RmVersion} -> {steps[2].RmVersion}");

        // The same run on a fresh server, never interrupted: every metric (times aside) is equal bit for bit.
        string straightRoot = RealServer.TempDir("straight-cp");
        string straightOut = RealServer.TempDir("straight-out");
        await using (ServerProcess straight = await RealServer.StartAsync(straightRoot, extraArgs: oneByOne))
        {
            rc = await ClientCli.RunAsync(
                ["train", "--server", straight.Address, "--steps", "4", "--prompts", "2", "--k", "2", "--max-new-tokens", "8", "--held-out-pairs", "0",
                 "--plots", "false", "--checkpoint-every", "1", "--checkpoint-name", "resume-run", "--out", straightOut],
                output, error).WaitAsync(Limit);
            Assert.True(rc == 0, $"uninterrupted run failed ({rc}): {error}\n{output}\nserver:\n{straight.OutputTail}");
        }

        static string Line(VariantStepMetrics m) => System.Text.Json.JsonSerializer.Serialize(m with { ElapsedSeconds = null, RunId = null }); // the two runs have their own ids
        var uninterrupted = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(Path.Combine(straightOut, "metrics.jsonl"));
        Assert.Equal(uninterrupted.Select(Line), steps.Select(Line));
        Directory.Delete(straightRoot, recursive: true);
        Directory.Delete(straightOut, recursive: true);
        Directory.Delete(cpRoot, recursive: true);
        Directory.Delete(outDir, recursive: true);
    }
}
