using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using R2M.Api.V1;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>What a finished run of the study recorded beside its metrics (runs/.../result.json).</summary>
public sealed record StudyRunRecord(string Task, string Row, ulong Seed, double? RmLr, double G, double? HeldOutWithFeedback,
    double? HeldOutWithoutFeedback, double WallSeconds);

/// <summary>What the study produced.</summary>
public sealed record StudyResult(string ResultsPath, IReadOnlyDictionary<string, double> ChosenRmLr, int RunsDone, int RunsSkipped, TimeSpan Elapsed);

/// <summary>
/// The pre-registered study of docs/study.md: per task, R2M on the validation seeds for every RM
/// learning rate of the grid (the highest mean G wins, ties within 0.005 to the smaller rate), then
/// the nine rows on every test seed at that rate, then the analysis (<see cref="StudyAnalysis"/>)
/// and the figures. Each seed trains its own sandbox models. A finished run leaves result.json
/// beside its metrics, so an interrupted study continues where it stopped; plan.json records the
/// settings and a rerun into the same folder with other settings is refused.
/// </summary>
public sealed class StudyRunner(StudySettings study, TrainSettings baseSettings, TextWriter log)
{
    /// <summary>G ties within this go to the smaller RM learning rate (docs/study.md).</summary>
    public const double LrTieTolerance = 0.005;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Training settings the runner sets for each run: not flags of <c>study</c>.</summary>
    internal static readonly string[] SetPerRun =
        [nameof(TrainSettings.Server), nameof(TrainSettings.Out), nameof(TrainSettings.Metrics), nameof(TrainSettings.Variant),
         nameof(TrainSettings.Seed), nameof(TrainSettings.RmLr), nameof(TrainSettings.Resume), nameof(TrainSettings.CheckpointEvery),
         nameof(TrainSettings.CheckpointName), nameof(TrainSettings.Plots), nameof(TrainSettings.HeldOutPairs),
         nameof(TrainSettings.Task), nameof(TrainSettings.Overwrite)];

    /// <summary>Left out of plan.json: the per-run settings and those that do not change results (connection, retries).</summary>
    private static readonly string[] PerRunSettings =
        [.. SetPerRun, nameof(TrainSettings.ApiKeyFile), nameof(TrainSettings.Timeout), nameof(TrainSettings.Retries),
         nameof(TrainSettings.BackoffMs), nameof(TrainSettings.MaxBackoffMs), nameof(TrainSettings.Concurrency)];

    private ServerProcess? _server;
    private (string Policy, string Rm)? _serverModels;
    private int _done;
    private int _skipped;

    /// <summary>Builds the per-run trainer hooks (progress display); null for none.</summary>
    public Func<TrainSettings, (Action<VariantStepMetrics>? OnStep, Action<int, string>? OnPhase)>? Hooks { get; init; }

    /// <summary>The rows of every task, in docs/study.md's order: the eight variants, then the oracle.</summary>
    public static IReadOnlyList<string> Rows { get; } = [.. Variants.All.Select(Variants.DisplayName), StudyAnalysis.OracleRow];

    /// <summary>The training settings of docs/study.md "Fixed settings" (flags of <c>study</c> override them).</summary>
    public static TrainSettings Defaults() => new()
    {
        Steps = 100,
        Prompts = 4,
        K = 8,
        Temperature = 0.7,
        MaxNewTokens = 16,
        PolicyLr = 3e-4,
        HeldOutPairs = 0,
        Plots = false,
    };

    public async Task<StudyResult?> RunAsync(CancellationToken ct)
    {
        study.Validate();
        baseSettings.Validate();
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(study.Out);
        CheckPlan();
        if (study.DryRun)
        {
            foreach (string line in PlanLines())
            {
                log.WriteLine(line);
            }

            return null;
        }

        try
        {
            var chosen = new Dictionary<string, double>();
            var grid = new StringBuilder("## RM learning rate (validation seeds)\n\n| task | " + string.Join(" | ", study.RmLrList().Select(lr => FormattableString.Invariant($"G at {lr:G3}"))) + " | chosen |\n|---|" + string.Concat(study.RmLrList().Select(_ => "---|")) + "---|\n");
            foreach (SandboxTask task in study.TaskList())
            {
                (double pick, IReadOnlyDictionary<double, double> meanG) = await ChooseRmLrAsync(task, ct).ConfigureAwait(false);
                chosen[task.Name] = pick;
                grid.AppendLine(CultureInfo.InvariantCulture, $"| {task.Name} | {string.Join(" | ", study.RmLrList().Select(lr => meanG.TryGetValue(lr, out double g) ? g.ToString("F3", CultureInfo.InvariantCulture) : "failed"))} | {pick:G3} |");
            }

            WriteAtomic(Path.Combine(study.Out, "rm-lr.json"), JsonSerializer.Serialize(chosen, Indented));
            var results = new StringBuilder(grid.AppendLine().ToString());
            foreach (SandboxTask task in study.TaskList())
            {
                (IReadOnlyList<StudyRun> runs, IReadOnlyList<string> dropped) = await TestAsync(task, chosen[task.Name], ct).ConfigureAwait(false);
                results.Append(TaskSection(task, runs, chosen[task.Name], dropped));
            }

            string path = Path.Combine(study.Out, "results.md");
            WriteAtomic(path, $"# Study results ({_done} runs this invocation, {_skipped} found done, {clock.Elapsed.TotalMinutes:F1} min)\n\n" + results);
            return new StudyResult(path, chosen, _done, _skipped, clock.Elapsed);
        }
        finally
        {
            await StopServerAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs R2M over the grid on the validation seeds; returns the rate with the highest mean G (ties to the smaller).</summary>
    private async Task<(double Chosen, IReadOnlyDictionary<double, double> MeanG)> ChooseRmLrAsync(SandboxTask task, CancellationToken ct)
    {
        var meanG = new SortedDictionary<double, double>();
        var byLr = study.RmLrList().ToDictionary(lr => lr, _ => new List<double>());
        foreach (ulong seed in study.ValidationSeedList())
        {
            foreach (double lr in study.RmLrList())
            {
                if (await RunTwiceAsync("validation", task, "R2M", seed, lr, ct).ConfigureAwait(false) is { } r)
                {
                    byLr[lr].Add(r.G);
                }
            }
        }

        foreach ((double lr, List<double> g) in byLr.Where(kv => kv.Value.Count > 0))
        {
            meanG[lr] = g.Average();
        }

        if (meanG.Count == 0)
        {
            throw new InvalidOperationException($"{task.Name}: every validation run failed twice (see failed.txt under {study.Out}/runs/validation)");
        }

        double best = meanG.Values.Max();
        double pick = meanG.First(kv => kv.Value >= best - LrTieTolerance).Key; // ascending: the smallest rate within the tie
        log.WriteLine(FormattableString.Invariant($"{task.Name}: RM lr grid G = {string.Join(", ", meanG.Select(kv => $"{kv.Key:G3}: {kv.Value:F3}"))}; chosen {pick:G3}"));
        return (pick, meanG);
    }

    private async Task<(IReadOnlyList<StudyRun> Runs, IReadOnlyList<string> Dropped)> TestAsync(SandboxTask task, double rmLr, CancellationToken ct)
    {
        var runs = new List<StudyRun>();
        var dropped = new List<string>();
        foreach (ulong seed in study.SeedList())
        {
            var ofSeed = new List<StudyRun>();
            // PRETRAINED_RM last: it needs the server with rm-gold, the others share one with the proxy RM.
            foreach (string row in Rows.OrderBy(r => r == "PRETRAINED_RM"))
            {
                if (await RunTwiceAsync("test", task, row, seed, rmLr, ct).ConfigureAwait(false) is not { } record)
                {
                    dropped.Add($"seed {seed} ({row} failed twice: {File.ReadAllText(Path.Combine(RunDirectory("test", task, row, seed, rmLr), "failed.txt")).Trim()})");
                    continue;
                }

                string dir = RunDirectory("test", task, row, seed, rmLr);
                var steps = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(Path.Combine(dir, "metrics.jsonl")).Select(m => m with { Variant = row }).ToArray();
                ofSeed.Add(new StudyRun(task.Name, row, seed, steps, record.HeldOutWithFeedback, record.HeldOutWithoutFeedback));
            }

            // docs/study.md "Stopping rule": a seed with a run that failed twice leaves every paired comparison of its task.
            if (ofSeed.Count == Rows.Count)
            {
                runs.AddRange(ofSeed);
            }
        }

        return (runs, dropped);
    }

    /// <summary>docs/study.md "Stopping rule": a failed run (an error, not a bad score) is rerun once; null after a second failure (failed.txt).</summary>
    private async Task<StudyRunRecord?> RunTwiceAsync(string phase, SandboxTask task, string row, ulong seed, double rmLr, CancellationToken ct)
    {
        string failed = Path.Combine(RunDirectory(phase, task, row, seed, rmLr), "failed.txt");
        if (File.Exists(failed))
        {
            return null;
        }

        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await RunAsync(phase, task, row, seed, rmLr, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is R2MClientException or IOException or InvalidDataException or InvalidOperationException or TimeoutException)
            {
                log.WriteLine($"{phase} {task.Name} {row} seed {seed}: attempt {attempt} failed: {e.Message}");
                await StopServerAsync().ConfigureAwait(false); // the next attempt starts a fresh server
                if (attempt == 2)
                {
                    WriteAtomic(failed, e.Message + "\n");
                    return null;
                }
            }
        }
    }

    /// <summary>One run, or its recorded result when result.json says it finished.</summary>
    private async Task<StudyRunRecord> RunAsync(string phase, SandboxTask task, string row, ulong seed, double rmLr, CancellationToken ct)
    {
        string dir = RunDirectory(phase, task, row, seed, rmLr);
        string resultPath = Path.Combine(dir, "result.json");
        if (File.Exists(resultPath))
        {
            _skipped++;
            return JsonSerializer.Deserialize<StudyRunRecord>(File.ReadAllText(resultPath))
                ?? throw new InvalidDataException($"{resultPath}: empty result");
        }

        SandboxModelPaths models = await task.EnsureModelsAsync(study.ModelsDir, seed, new LineProgress(log), ct).ConfigureAwait(false);
        string address = await ServerAsync(models.Policy, row == "PRETRAINED_RM" ? models.GoldRewardModel : models.RewardModel, ct).ConfigureAwait(false);
        TrainSettings s = baseSettings.Clone();
        s.Server = address;
        s.Variant = row == StudyAnalysis.OracleRow ? "r2m" : row;
        s.Task = row == StudyAnalysis.OracleRow ? task.Name + SandboxTasks.GoldPairsSuffix : task.Name;
        s.Seed = seed;
        s.RmLr = rmLr;
        s.Out = dir;
        s.Metrics = null;
        s.Resume = false;
        s.Overwrite = true; // a run without result.json did not finish: it starts again
        s.CheckpointEvery = 0;
        s.Plots = false;
        s.HeldOutPairs = study.HeldOutPairs;
        var clock = Stopwatch.StartNew();
        using var client = new R2MClient(s.ToClientOptions((call, attempt, e, delay) =>
            log.WriteLine($"  {call}: {e.Message}; retry {attempt} in {delay.TotalSeconds:F1} s")));
        await client.WaitForReadyAsync(TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        await client.ResetAsync(seed, ct).ConfigureAwait(false);
        (Action<VariantStepMetrics>? onStep, Action<int, string>? onPhase) = Hooks?.Invoke(s) ?? (null, null);
        var trainer = new R2MTrainer(client, s) { OnStep = onStep, OnPhase = onPhase };
        TrainResult result = await trainer.RunAsync(ct).ConfigureAwait(false);
        var run = new StudyRun(task.Name, row, seed, result.Steps);
        (double? withFeedback, double? without) = (result.HeldOut?.WithFeedback, result.HeldOut?.WithoutFeedback);
        var record = new StudyRunRecord(task.Name, row, seed, Variants.FreezesRewardModel(s.VariantConfig) ? null : rmLr,
            StudyAnalysis.FinalGold(run, study.Window), withFeedback, without, Math.Round(clock.Elapsed.TotalSeconds, 1));
        WriteAtomic(resultPath, JsonSerializer.Serialize(record, Indented));
        _done++;
        log.WriteLine(FormattableString.Invariant($"{phase} {task.Name} {row} seed {seed}: G {record.G:F3} ({record.WallSeconds:F0} s)"));
        return record;
    }

    private string TaskSection(SandboxTask task, IReadOnlyList<StudyRun> runs, double rmLr, IReadOnlyList<string> dropped)
    {
        string plotDir = Path.Combine(study.Out, "plots", task.Name);
        Directory.CreateDirectory(plotDir);
        IReadOnlyList<string> plots = runs.Count > 0 ? SandboxPlots.WriteAll(runs.SelectMany(r => r.Steps).ToArray(), plotDir) : [];
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"## {task.Name} ({task.Role}; RM lr {rmLr:G3})").AppendLine();
        foreach (string d in dropped)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"Dropped from every comparison: {d}.").AppendLine();
        }

        if (runs.Count > 0)
        {
            sb.Append(StudyAnalysis.ToMarkdown(runs, study.Window)).AppendLine();
        }

        foreach (string p in plots)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"- {Path.GetRelativePath(study.Out, p)}");
        }

        return sb.AppendLine().ToString();
    }

    private string RunDirectory(string phase, SandboxTask task, string row, ulong seed, double rmLr)
    {
        string slug = row == StudyAnalysis.OracleRow ? "oracle" : row.ToLowerInvariant().Replace('_', '-');
        string dir = Path.Combine(study.Out, "runs", phase, task.Name, slug, $"seed-{seed}");
        return phase == "validation" ? Path.Combine(dir, FormattableString.Invariant($"rm-lr-{rmLr:G3}")) : dir;
    }

    /// <summary>Refuses a folder holding a study with other settings (results must not mix); records the plan otherwise.</summary>
    private void CheckPlan()
    {
        // The training settings that shape results (connection and per-run settings are not part of the plan).
        var training = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var p in Cli.ClientCli.SettingProperties<TrainSettings>().Where(p => !PerRunSettings.Contains(p.Name)))
        {
            training[p.Name] = Convert.ToString(p.GetValue(baseSettings), CultureInfo.InvariantCulture);
        }

        string plan = JsonSerializer.Serialize(new { study.Tasks, study.Seeds, study.ValidationSeeds, study.RmLrGrid, study.Window, study.HeldOutPairs, Training = training }, Indented);
        string path = Path.Combine(study.Out, "plan.json");
        if (File.Exists(path) && File.ReadAllText(path) != plan)
        {
            throw new InvalidOperationException($"{path} records a study with other settings; use another --out, or delete the folder to start over");
        }

        WriteAtomic(path, plan);
    }

    private IEnumerable<string> PlanLines()
    {
        foreach (SandboxTask task in study.TaskList())
        {
            foreach (ulong seed in study.ValidationSeedList())
            {
                foreach (double lr in study.RmLrList())
                {
                    yield return Line("validation", task, "R2M", seed, lr);
                }
            }

            foreach (ulong seed in study.SeedList())
            {
                foreach (string row in Rows)
                {
                    yield return Line("test", task, row, seed, double.NaN);
                }
            }
        }

        string Line(string phase, SandboxTask task, string row, ulong seed, double lr)
        {
            bool done = File.Exists(Path.Combine(RunDirectory(phase, task, row, seed, lr), "result.json"));
            return FormattableString.Invariant($"{(done ? "done" : "todo")} {phase} {task.Name} {row} seed {seed}{(double.IsNaN(lr) ? "" : $" rm-lr {lr:G3}")}");
        }
    }

    private async Task<string> ServerAsync(string policy, string rm, CancellationToken ct)
    {
        if (_server is not null && _serverModels == (policy, rm))
        {
            return _server.Address;
        }

        await StopServerAsync().ConfigureAwait(false);
        _server = await ServerProcess.StartAsync(new ServerLaunch
        {
            ServerPath = ServerLocator.Find(study.ServerExe),
            PolicyPath = policy,
            RewardModelPath = rm,
            Port = 0,
            CheckpointRoot = Path.Combine(study.Out, "checkpoints"),
            ApiKey = baseSettings.ResolveApiKey(),
        }, ct).ConfigureAwait(false);
        _serverModels = (policy, rm);
        log.WriteLine($"r2m-server (pid {_server.ProcessId}) on {_server.Address}: policy {policy}, RM {Path.GetFileName(rm)}");
        return _server.Address;
    }

    private async Task StopServerAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
            _serverModels = null;
        }
    }

    private static void WriteAtomic(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Writes progress lines synchronously, in order.</summary>
    private sealed class LineProgress(TextWriter log) : IProgress<string>
    {
        public void Report(string value) => log.WriteLine(value);
    }
}
