using System.Diagnostics;
using System.Globalization;
using System.Text;
using R2M.Api.V1;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>What the demo produced.</summary>
public sealed record DemoResult(IReadOnlyList<VariantSummary> Rows, string Table, IReadOnlyList<string> Plots, string ReportPath, TimeSpan Elapsed);

/// <summary>
/// The main job (issue 6): on the gold-reward sandbox, GRPO against the frozen proxy RM
/// (VANILLA), GRPO + R2M and every ablation of docs/method.md section 4, one after another on one
/// server (Admin.Reset between runs), then the table of gold reward, proxy reward, KL, '!' rate
/// and RM held-out accuracy per variant, and the plots.
/// </summary>
public sealed class DemoRunner(DemoSettings demo, TrainSettings baseSettings, TextWriter log)
{
    /// <summary>Builds the per-run trainer hooks (progress display); null for none.</summary>
    public Func<TrainSettings, (Action<VariantStepMetrics>? OnStep, Action<int, string>? OnPhase)>? Hooks { get; init; }

    public SandboxModelOptions ModelOptions { get; init; } = new();

    public async Task<DemoResult?> RunAsync(CancellationToken ct)
    {
        demo.Validate();
        var clock = Stopwatch.StartNew();
        SandboxModelPaths? models = null;
        if (demo.Server is null || demo.PrepareOnly)
        {
            models = await SandboxModels.EnsureAsync(demo.ModelsDir, ModelOptions, new SyncProgress(log), ct).ConfigureAwait(false);
            log.WriteLine(models.Rebuilt ? $"sandbox models trained into {models.Root} ({clock.Elapsed.TotalSeconds:F0} s)" : $"sandbox models found in {models.Root}");
            log.WriteLine(SandboxModels.Describe(models.Report));
            if (demo.PrepareOnly)
            {
                return null;
            }
        }

        Directory.CreateDirectory(demo.Out);
        var runs = new List<(VariantConfig Variant, TrainResult Result)>();
        ServerProcess? server = null;
        string? serverRm = null;
        try
        {
            foreach (VariantConfig variant in demo.VariantList())
            {
                string? address = demo.Server;
                if (address is null)
                {
                    // PRETRAINED_RM: the RM fine-tuned offline with BT on gold pairs (rm-gold) is hosted instead of the proxy.
                    string rm = variant == VariantConfig.PretrainedRm ? models!.GoldRewardModel : models!.RewardModel;
                    if (server is null || serverRm != rm)
                    {
                        if (server is not null)
                        {
                            await server.DisposeAsync().ConfigureAwait(false);
                        }

                        server = await ServerProcess.StartAsync(new ServerLaunch
                        {
                            ServerPath = ServerLocator.Find(demo.ServerExe),
                            PolicyPath = models.Policy,
                            RewardModelPath = rm,
                            Port = 0,
                            CheckpointRoot = Path.Combine(demo.Out, "checkpoints"),
                            ApiKey = baseSettings.ResolveApiKey(),
                        }, ct).ConfigureAwait(false);
                        serverRm = rm;
                        log.WriteLine($"r2m-server (pid {server.ProcessId}) on {server.Address}, RM {Path.GetFileName(rm)}");
                    }

                    address = server.Address;
                }
                else if (variant == VariantConfig.PretrainedRm && demo.PretrainedRmCheckpoint is null)
                {
                    log.WriteLine("PRETRAINED_RM skipped: with --server give --pretrained-rm-checkpoint NAME (an RM fine-tuned on gold pairs)");
                    continue;
                }

                for (ulong seed = 1; seed <= (ulong)demo.Seeds; seed++)
                {
                    runs.Add((variant, await RunOneAsync(address, variant, seed, ct).ConfigureAwait(false)));
                }
            }
        }
        finally
        {
            if (server is not null)
            {
                await server.DisposeAsync().ConfigureAwait(false);
            }
        }

        return Report(runs, clock.Elapsed);
    }

    private async Task<TrainResult> RunOneAsync(string address, VariantConfig variant, ulong seed, CancellationToken ct)
    {
        TrainSettings s = baseSettings.Clone();
        s.Server = address;
        s.Variant = Variants.DisplayName(variant);
        s.Seed = seed;
        s.Out = Path.Combine(demo.Out, "runs", s.RunName);
        s.Metrics = null;
        s.Resume = false;
        s.CheckpointEvery = 0;
        s.Plots = false;
        // The demo owns its output folder (a re-run replaces its runs) and resets the server itself below.
        s.Overwrite = true;
        s.NoReset = true;
        s.Task = null;
        s.PromptsFile = null;
        s.EvalPrompts = null;
        s.EvalPairs = null;
        using var client = new R2MClient(s.ToClientOptions((call, attempt, e, delay) =>
            log.WriteLine($"  {call}: {e.Message}; retry {attempt} in {delay.TotalSeconds:F1} s")));
        await client.WaitForReadyAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
        // A fresh run: startup weights, cleared store, cross-attention re-initialized from the seed.
        await client.ResetAsync(seed, ct).ConfigureAwait(false);
        if (variant == VariantConfig.PretrainedRm && demo.Server is not null && demo.PretrainedRmCheckpoint is { } name)
        {
            await client.LoadCheckpointAsync(name, rewardModelOnly: true, ct).ConfigureAwait(false);
        }

        (Action<VariantStepMetrics>? onStep, Action<int, string>? onPhase) = Hooks?.Invoke(s) ?? (null, null);
        // The spurious task on the demo's models (their digit window: the prompts RL starts from).
        var task = new SandboxTrainingTask(SandboxTasks.Spurious with
        {
            Models = ModelOptions,
            Schedule = DigitSchedule.Fixed(ModelOptions.Task.MinDigits, ModelOptions.Task.MaxDigits),
        });
        var trainer = new R2MTrainer(client, s, task) { OnStep = onStep, OnPhase = onPhase };
        return await trainer.RunAsync(ct).ConfigureAwait(false);
    }

    private DemoResult Report(List<(VariantConfig Variant, TrainResult Result)> runs, TimeSpan elapsed)
    {
        var rows = runs.GroupBy(r => r.Variant).Select(g =>
        {
            var finals = g.Select(r => r.Result.Steps[^1]).ToArray();
            // The paper's held-out accuracy: pairs scored through the policy (with feedback) at t = T.
            double[] acc = g.Where(r => r.Result.HeldOut is not null).Select(r => r.Result.HeldOut!.WithFeedback).ToArray();
            return VariantSummary.FromFinalSteps(Variants.DisplayName(g.Key), finals, acc.Length > 0 ? acc.Average() : null);
        }).ToArray();
        var allSteps = runs.SelectMany(r => r.Result.Steps).ToArray();
        string plotDir = Path.Combine(demo.Out, "plots");
        Directory.CreateDirectory(plotDir);
        IReadOnlyList<string> plots = SandboxPlots.WriteAll(allSteps, plotDir);
        using (var all = new MetricsJsonlWriter(Path.Combine(demo.Out, "metrics.jsonl.tmp")))
        {
            foreach (var m in allSteps)
            {
                all.Write(m);
            }
        }

        File.Move(Path.Combine(demo.Out, "metrics.jsonl.tmp"), Path.Combine(demo.Out, "metrics.jsonl"), overwrite: true);
        string table = SandboxReport.ToMarkdown(rows);
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"# r2m-client demo ({rows.Length} variants, {demo.Seeds} seed(s), {baseSettings.Steps} steps, n={baseSettings.Prompts}, K={baseSettings.K}, {elapsed.TotalSeconds:F0} s)");
        report.AppendLine().Append(table).AppendLine();
        foreach (string p in plots)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"- {p}");
        }

        string reportPath = Path.Combine(demo.Out, "report.md");
        File.WriteAllText(reportPath, report.ToString());
        return new DemoResult(rows, table, plots, reportPath, elapsed);
    }

    /// <summary>Writes progress lines synchronously (Progress&lt;T&gt; would post them to the thread pool out of order).</summary>
    private sealed class SyncProgress(TextWriter log) : IProgress<string>
    {
        public void Report(string value) => log.WriteLine(value);
    }
}
