using R2M.Client.Cli;
using R2M.Sandbox;

namespace R2M.Client.Tests;

/// <summary>
/// <c>train</c> on the user's prompts, the oracle diagnostic, and one run per folder (run ids,
/// --overwrite, --resume across runs), against the real r2m-server of <see cref="KeyedServerFixture"/>.
/// </summary>
[Collection(RealServerCollection.Name)]
public sealed class RunEndToEndTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    private async Task<(int Rc, string Output, string Error)> TrainAsync(string outDir, params string[] extra)
    {
        string keyFile = Path.Combine(outDir, "..", Path.GetFileName(outDir) + ".key");
        await File.WriteAllTextAsync(keyFile, KeyedServerFixture.ApiKey);
        var output = new StringWriter();
        var error = new StringWriter();
        string[] args = ["train", "--server", fixture.Server.Address, "--api-key-file", keyFile, "--prompts", "2", "--k", "2",
            "--max-new-tokens", "6", "--held-out-pairs", "0", "--plots", "false", "--out", outDir, .. extra];
        int rc = await ClientCli.RunAsync(args, output, error).WaitAsync(Limit);
        File.Delete(keyFile);
        return (rc, output.ToString(), error.ToString());
    }

    private static IReadOnlyList<VariantStepMetrics> Metrics(string outDir) =>
        MetricsJsonlWriter.ReadAll<VariantStepMetrics>(Path.Combine(outDir, "metrics.jsonl"));

    [Fact]
    public async Task TrainCli_PromptsFile_RunsWithGoldMetricsNullAndEval()
    {
        string outDir = RealServer.TempDir("byo");
        string prompts = Path.Combine(outDir, "prompts.jsonl");
        await File.WriteAllLinesAsync(prompts, ["""{"prompt": "sort 4 2 9 ="}""", """{"prompt": "sort 1 1 0 5 =", "id": "b"}""", """{"prompt": "sort 7 3 ="}"""]);
        string eval = Path.Combine(outDir, "eval.jsonl");
        await File.WriteAllLinesAsync(eval, ["""{"prompt": "sort 8 6 ="}""", """{"prompt": "sort 5 0 2 ="}"""]);
        var (rc, output, error) = await TrainAsync(outDir, "--steps", "3", "--prompts-file", prompts, "--eval-prompts", eval, "--eval-every", "2");
        Assert.True(rc == 0, $"train failed ({rc}): {error}\n{output}\nserver:\n{fixture.Server.OutputTail}");

        var steps = Metrics(outDir);
        Assert.Equal([1, 2, 3], steps.Select(s => s.Step));
        string runId = Assert.Single(steps.Select(s => s.RunId).Distinct())!;
        Assert.Contains($"run {runId}", output);
        Assert.All(steps, s =>
        {
            Assert.Equal("prompts:prompts.jsonl", s.Task);
            Assert.Null(s.GoldReward);
            Assert.Null(s.BangRate);
            Assert.Null(s.OnPolicyAccuracy);
            Assert.NotNull(s.RewardGroupStd);
            Assert.InRange(s.DegenerateGroupShare!.Value, 0, 1);
            Assert.InRange(s.MeanResponseLength, 0, 6);
            Assert.True(double.IsFinite(s.ProxyReward));
            Assert.NotNull(s.BtLoss);
        });
        // --eval-every 2 with T = 3: steps 2 and 3 (the last) evaluate. User prompts have no gold,
        // even when their text happens to be a sandbox prompt: the file is not the sandbox task.
        Assert.Null(steps[0].EvalReward);
        Assert.All(steps.Skip(1), s => Assert.True(double.IsFinite(s.EvalReward!.Value)));
        Assert.All(steps, s => Assert.Null(s.EvalGold));
        Assert.Contains("gold -", output);
        Assert.Contains("'!' rate -", output);
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task TrainCli_OracleLabels_LabelledDiagnosticWithGoldMetrics()
    {
        string outDir = RealServer.TempDir("oracle");
        var (rc, output, error) = await TrainAsync(outDir, "--steps", "2", "--task", "oracle-labels");
        Assert.True(rc == 0, $"train failed ({rc}): {error}\n{output}\nserver:\n{fixture.Server.OutputTail}");
        Assert.Contains("diagnostic positive control, not R2M", output);
        var steps = Metrics(outDir);
        Assert.All(steps, s =>
        {
            Assert.Equal("oracle-labels", s.Task);
            Assert.Equal(PairLabels.Describe(PairLabelSource.Gold), s.PairLabels);
            Assert.InRange(s.GoldReward!.Value, 0, 1);
            Assert.NotNull(s.GoldTiedGroupShare);
            Assert.NotNull(s.BtLoss);
        });
        Directory.Delete(outDir, recursive: true);
    }

    [Fact]
    public async Task TrainCli_SecondRunIntoSameFolder_RefusedUnlessOverwrite_ResumeAcrossRunsRefused()
    {
        string x = RealServer.TempDir("run-x");
        string y = RealServer.TempDir("run-y");
        string[] checkpoint = ["--checkpoint-every", "1", "--checkpoint-name", "shared-cp"];

        // Run A: 2 steps into X.
        var a = await TrainAsync(x, ["--steps", "2", .. checkpoint]);
        Assert.True(a.Rc == 0, $"run A failed: {a.Error}\n{a.Output}");
        string runA = Metrics(x)[0].RunId!;

        // Run B into X: refused, X untouched.
        var b = await TrainAsync(x, ["--steps", "2", "--seed", "2"]);
        Assert.Equal(1, b.Rc);
        Assert.Contains($"already holds run {runA}", b.Error);
        Assert.Contains("--resume", b.Error);
        Assert.Contains("--overwrite", b.Error);
        Assert.Equal([runA, runA], Metrics(x).Select(m => m.RunId));

        // A later run C into Y saves the same checkpoint name: resuming X from it must not mix runs.
        var c = await TrainAsync(y, ["--steps", "1", .. checkpoint]);
        Assert.True(c.Rc == 0, $"run C failed: {c.Error}\n{c.Output}");
        string runC = Metrics(y)[0].RunId!;
        Assert.NotEqual(runA, runC);
        var resume = await TrainAsync(x, ["--steps", "3", "--resume", .. checkpoint]);
        Assert.Equal(1, resume.Rc);
        Assert.Contains($"checkpoint 'shared-cp' belongs to run {runC}", resume.Error);
        Assert.Contains($"holds run {runA}", resume.Error);
        Assert.Equal([1, 2], Metrics(x).Select(m => m.Step));

        // --overwrite replaces run A with a new run.
        var d = await TrainAsync(x, ["--steps", "1", "--overwrite", .. checkpoint]);
        Assert.True(d.Rc == 0, $"run D failed: {d.Error}\n{d.Output}");
        var replaced = Metrics(x);
        Assert.Equal([1], replaced.Select(m => m.Step));
        Assert.NotEqual(runA, replaced[0].RunId);

        // Now checkpoint and metrics are run D's: resume continues it under its id.
        var resumed = await TrainAsync(x, ["--steps", "2", "--resume", .. checkpoint]);
        Assert.True(resumed.Rc == 0, $"resume of D failed: {resumed.Error}\n{resumed.Output}");
        Assert.Equal([1, 2], Metrics(x).Select(m => m.Step));
        Assert.All(Metrics(x), m => Assert.Equal(replaced[0].RunId, m.RunId));
        Directory.Delete(x, recursive: true);
        Directory.Delete(y, recursive: true);
    }

    [Fact]
    public async Task TrainCli_FreshRun_ResetsServerUnlessNoReset()
    {
        string outDir = RealServer.TempDir("reset");
        using var client = new R2MClient(new R2MClientOptions { Address = fixture.Server.Address });
        var first = await TrainAsync(outDir, "--steps", "1");
        Assert.True(first.Rc == 0, first.Error);
        VariantStepMetrics one = Metrics(outDir)[0];
        ulong stored = (await client.InfoAsync()).Store.Rollouts;
        Assert.True(stored > 0);

        // A fresh run starts from the startup weights and an empty store: the same responses
        // (same seed, same weights) and only its own rollouts stored.
        var second = await TrainAsync(outDir, "--steps", "1", "--overwrite");
        Assert.True(second.Rc == 0, second.Error);
        VariantStepMetrics two = Metrics(outDir)[0];
        Assert.Equal(one.GoldReward, two.GoldReward);
        Assert.Equal(one.MeanResponseLength, two.MeanResponseLength);
        Assert.Equal(stored, (await client.InfoAsync()).Store.Rollouts);

        // --no-reset keeps the server as the last run left it: its rollouts are still stored.
        var third = await TrainAsync(outDir, "--steps", "1", "--overwrite", "--no-reset");
        Assert.True(third.Rc == 0, third.Error);
        Assert.Contains("--no-reset", third.Output);
        Assert.Equal(2 * stored, (await client.InfoAsync()).Store.Rollouts);
        Directory.Delete(outDir, recursive: true);
    }
}
