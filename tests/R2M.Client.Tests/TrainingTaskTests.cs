using R2M.Api.V1;
using R2M.Client.Cli;
using R2M.Client.Training;
using R2M.Sandbox;

namespace R2M.Client.Tests;

public sealed class TrainingTaskTests
{
    [Fact]
    public void SandboxTask_Spurious_PromptsAreThoseOfTheTrainerBeforeTasks()
    {
        // Before tasks existed the trainer drew new PromptGenerator(StepSeed(seed, step), default options).Take(n).
        var task = new SandboxTrainingTask(SandboxTasks.Spurious);
        for (int step = 1; step <= 5; step++)
        {
            var expected = new PromptGenerator(R2MTrainer.StepSeed(3, step)).Take(8).Select(p => p.Text);
            Assert.Equal(expected, task.Prompts(3, step, 5, 8));
        }
    }

    [Fact]
    public void SandboxTask_Prompts_PureFunctionOfSeedStepAndT()
    {
        var a = new SandboxTrainingTask(SandboxTasks.Shift);
        var b = new SandboxTrainingTask(SandboxTasks.Shift);
        Assert.Equal(a.Prompts(5, 7, 40, 16), b.Prompts(5, 7, 40, 16));
        Assert.NotEqual(a.Prompts(5, 7, 40, 16), a.Prompts(5, 8, 40, 16));
        Assert.NotEqual(a.Prompts(5, 7, 40, 16), a.Prompts(6, 7, 40, 16));
        // shift: the last quarter of the run draws 6-9 digits.
        Assert.All(a.Prompts(1, 40, 40, 32), p => Assert.InRange(SandboxText.ParsePrompt(p).Digits.Count, 6, 9));
    }

    [Fact]
    public void SandboxTask_Gold_ScoresSortPromptsAndNullForOtherText()
    {
        var task = new SandboxTrainingTask(SandboxTasks.Spurious);
        Assert.Equal(1.0, task.Gold("sort 3 1 2 =", " 1 2 3"));
        Assert.True(task.Gold("sort 3 1 2 =", " 3 2 1") < 1.0);
        Assert.Null(task.Gold("write a haiku", "..."));
        Assert.Null(task.Stats([("write a haiku", "...")]));
    }

    [Fact]
    public void PromptFileTask_Prompts_DeterministicAndEveryPromptOncePerPass()
    {
        string[] prompts = Enumerable.Range(0, 10).Select(i => $"prompt {i}").ToArray();
        var task = new PromptFileTask("p.jsonl", prompts);
        var again = new PromptFileTask("p.jsonl", prompts);
        // 10 prompts, 5 per step: steps 1-2 are one pass, steps 3-4 the next.
        string[] pass1 = [.. task.Prompts(7, 1, 4, 5), .. task.Prompts(7, 2, 4, 5)];
        string[] pass2 = [.. task.Prompts(7, 3, 4, 5), .. task.Prompts(7, 4, 4, 5)];
        Assert.Equal(prompts.Order(), pass1.Order());
        Assert.Equal(prompts.Order(), pass2.Order());
        Assert.NotEqual(pass1, pass2); // each pass in its own order
        Assert.Equal(task.Prompts(7, 3, 4, 5), again.Prompts(7, 3, 4, 5)); // resume sees the same prompts
        Assert.NotEqual(task.Prompts(7, 1, 4, 5), task.Prompts(8, 1, 4, 5));
        Assert.Null(task.Gold("prompt 1", "x"));
        Assert.Equal("prompts:p.jsonl", task.Name);
    }

    [Fact]
    public void PromptFileTask_MorePromptsPerStepThanFile_Cycles()
    {
        var task = new PromptFileTask("p.jsonl", ["a", "b", "c"]);
        IReadOnlyList<string> step = task.Prompts(1, 1, 1, 7);
        Assert.Equal(7, step.Count);
        Assert.All(["a", "b", "c"], p => Assert.Contains(p, step));
    }

    [Theory]
    [InlineData(PairLabelSource.Gold, new[] { 0.25f, 1f, 0.5f })]
    [InlineData(PairLabelSource.RewardModel, new[] { 2f, -1f, 0.5f })]
    public void StepBatch_Labels_AnnotationRewardsAreGoldForOracleElseTheRms(PairLabelSource labels, float[] expected)
    {
        Rollout[] rollouts = Enumerable.Range(0, 3).Select(i => new Rollout { RolloutId = $"r{i}", PromptIndex = 0, SampleIndex = (uint)i }).ToArray();
        double[] rm = [2, -1, 0.5];
        double?[] gold = [0.25, 1, 0.5];
        StepBatch batch = StepBatch.Build(1, rollouts, rm, gold, labels, serverAdvantages: false, Algorithm.Grpo, 1e-4);
        PreferenceGroup group = Assert.Single(batch.Groups);
        Assert.Equal(expected, group.Members.Select(m => m.AnnotationReward));
        // Advantages follow the RM's rewards either way: gold only picks the GREBT pair.
        Assert.Equal(GroupAdvantages.Grpo(rm, 1e-4).Select(a => (float)a), batch.Items.Select(i => i.Advantage));
    }

    [Fact]
    public void Validate_OracleWithRecomputedPairs_Refused()
    {
        var s = new TrainSettings { Task = "oracle-labels", PairSelection = "recomputed" };
        var e = Assert.Throws<ArgumentException>(s.Validate);
        Assert.Contains("--pair-selection", e.Message);
        Assert.Contains("oracle-labels", e.Message);
    }

    [Fact]
    public void Validate_UnknownTaskOrTaskWithPromptsFile_Refused()
    {
        Assert.Contains("--task = spurius must be one of: spurious, oracle-labels",
            Assert.Throws<ArgumentException>(new TrainSettings { Task = "spurius" }.Validate).Message);
        string file = Path.GetTempFileName();
        try
        {
            Assert.Contains("--prompts-file", Assert.Throws<ArgumentException>(new TrainSettings { Task = "shift", PromptsFile = file }.Validate).Message);
            Assert.Contains("--eval-pairs = nope.jsonl must be an existing file",
                Assert.Throws<ArgumentException>(new TrainSettings { EvalPairs = "nope.jsonl" }.Validate).Message);
            Assert.Contains("--overwrite", Assert.Throws<ArgumentException>(new TrainSettings { Resume = true, CheckpointEvery = 1, Overwrite = true }.Validate).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }
}

public sealed class RunFolderTests
{
    private static VariantStepMetrics Line(int step, string? run) =>
        new() { Variant = "R2M", Seed = 1, Step = step, ProxyReward = 0, MeanResponseLength = 1, RunId = run };

    private static string MetricsWith(params VariantStepMetrics[] lines)
    {
        string path = Path.Combine(RealServer.TempDir("runfolder"), "metrics.jsonl");
        using var w = new MetricsJsonlWriter(path);
        foreach (var l in lines)
        {
            w.Write(l);
        }

        return path;
    }

    [Fact]
    public void PrepareFresh_FileOfAnotherRun_RefusedNamingRunAndFlags()
    {
        string path = MetricsWith(Line(1, "aaaa"), Line(2, "aaaa"));
        var e = Assert.Throws<InvalidOperationException>(() => RunFolder.PrepareFresh(path, overwrite: false));
        Assert.Contains("run aaaa", e.Message);
        Assert.Contains("--resume", e.Message);
        Assert.Contains("--overwrite", e.Message);
        Assert.True(File.Exists(path));
        RunFolder.PrepareFresh(path, overwrite: true);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void CheckResume_CheckpointOfAnotherRun_RefusedNamingBoth()
    {
        string path = MetricsWith(Line(1, "aaaa"));
        var e = Assert.Throws<InvalidOperationException>(() => RunFolder.CheckResume(path, "cp", new ClientState(1, "R2M-seed1", "bbbb")));
        Assert.Contains("checkpoint 'cp' belongs to run bbbb", e.Message);
        Assert.Contains("holds run aaaa", e.Message);
        Assert.Equal("aaaa", RunFolder.CheckResume(path, "cp", new ClientState(1, "R2M-seed1", "aaaa")));
    }

    [Fact]
    public void ClientState_RunId_RoundTripsAndOldStateHasNone()
    {
        Assert.Equal("abc", ClientState.Decode(ClientState.Encode(new ClientState(3, "r", "abc")), "cp").RunId);
        Assert.Null(ClientState.Decode("""{"Step":3,"Run":"r"}"""u8, "cp").RunId);
    }
}

public sealed class ConfigFileTests
{
    private static string Config(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"r2m-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Load_KeysInAnyCase_Applied()
    {
        string path = Config("""{ "PolicyLr": 0.002, "STEPS": 7, "omegafloor": 0.65 }""");
        TrainSettings s = TrainSettings.Load(path);
        Assert.Equal(0.002, s.PolicyLr);
        Assert.Equal(7, s.Steps);
        Assert.Equal(0.65, s.OmegaFloor);
        var onto = TrainSettings.LoadOnto(path, new TrainSettings { Steps = 30, K = 8 });
        Assert.Equal(7, onto.Steps);
        Assert.Equal(8, onto.K);
        File.Delete(path);
    }

    [Fact]
    public void Load_Typo_ErrorSuggestsNearestKeyWithoutDotNetText()
    {
        string path = Config("""{ "polcyLr": 0.002 }""");
        var e = Assert.Throws<InvalidDataException>(() => TrainSettings.Load(path));
        Assert.Equal($"unknown key 'polcyLr' in {path}; did you mean 'policyLr'?", e.Message);
        File.Delete(path);
    }

    [Fact]
    public async Task Cli_UnknownKeyAndWrongType_OneLineErrors()
    {
        string path = Config("""{ "zzzzzzzzzzzz": 1 }""");
        var error = new StringWriter();
        Assert.Equal(1, await ClientCli.RunAsync(["train", "--config", path], new StringWriter(), error));
        Assert.StartsWith($"r2m-client: unknown key 'zzzzzzzzzzzz' in {path}; the keys are", error.ToString());
        Assert.DoesNotContain(".NET member", error.ToString());
        File.WriteAllText(path, """{ "steps": "many" }""");
        error = new StringWriter();
        Assert.Equal(1, await ClientCli.RunAsync(["train", "--config", path], new StringWriter(), error));
        Assert.Equal($"r2m-client: config file {path}: key 'steps' must be an integer", error.ToString().Trim());
        File.Delete(path);
    }

    [Fact]
    public async Task Help_PolicyLr_OneDefaultPerCommand()
    {
        static async Task<string> PolicyLrLine(string command)
        {
            var output = new StringWriter();
            await ClientCli.RunAsync([command, "--help"], output, new StringWriter());
            int at = output.ToString().IndexOf("--policy-lr", StringComparison.Ordinal);
            Assert.True(at >= 0, output.ToString());
            string rest = output.ToString()[at..];
            return System.Text.RegularExpressions.Regex.Replace(rest[..rest.IndexOf("--", 4, StringComparison.Ordinal)], @"\s+", " "); // help wraps lines
        }

        string demo = await PolicyLrLine("demo");
        Assert.Contains("[default: 0.001]", demo);
        Assert.DoesNotContain("server's", demo);
        string train = await PolicyLrLine("train");
        Assert.Contains("[default: the server's]", train);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(train, "default"));
    }
}
