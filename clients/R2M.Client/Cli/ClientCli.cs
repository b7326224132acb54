using System.CommandLine;
using System.Globalization;
using System.Reflection;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary>
/// <c>r2m-client</c>: train, score, eval-rm, status, demo. Errors print one line "r2m-client: ..." and
/// exit with code 1 (2 for bad usage); no stack traces for expected failures.
/// </summary>
public static class ClientCli
{
    private static readonly string[] NotForDemo =
        [nameof(TrainSettings.Server), nameof(TrainSettings.Out), nameof(TrainSettings.Metrics), nameof(TrainSettings.Variant),
         nameof(TrainSettings.Seed), nameof(TrainSettings.Resume), nameof(TrainSettings.CheckpointEvery), nameof(TrainSettings.CheckpointName),
         nameof(TrainSettings.Plots), nameof(TrainSettings.Overwrite), nameof(TrainSettings.NoReset), nameof(TrainSettings.Task),
         nameof(TrainSettings.PromptsFile), nameof(TrainSettings.EvalPrompts), nameof(TrainSettings.EvalEvery), nameof(TrainSettings.EvalPairs)];

    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        TextWriter stdout = output ?? Console.Out;
        TextWriter stderr = error ?? Console.Error;
        var root = new RootCommand("r2m-client: trains a policy against r2m-server with GRPO/RLOO + R2M (arXiv 2601.22664)");
        root.Subcommands.Add(TrainCommand(stdout));
        root.Subcommands.Add(DemoCommand(stdout));
        root.Subcommands.Add(StatusCommand(stdout));
        root.Subcommands.Add(ScoreCommands.Create(stdout));
        root.Subcommands.Add(StudyCommands.Create(stdout));
        root.Subcommands.Add(AdminCommands.Reset(stdout));
        root.Subcommands.Add(AdminCommands.Generate(stdout));
        root.Subcommands.Add(ScoreCommands.EvalRm(stdout));
        ParseResult parsed = root.Parse(args);
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (Exception e) when (e is R2MClientException or ArgumentException or InvalidDataException or IOException or TimeoutException or InvalidOperationException)
        {
            await stderr.WriteLineAsync("r2m-client: " + e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync("r2m-client: cancelled").ConfigureAwait(false);
            return 130;
        }
    }

    private static Command TrainCommand(TextWriter stdout)
    {
        var command = new Command("train", "run the RL loop (docs/method.md section 1) against a server on a sandbox task or your own prompts (--prompts-file)");
        var config = new Option<string>("--config") { Description = "JSON config file (camelCase keys of the flags); flags override it" };
        command.Options.Add(config);
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings());
        command.SetAction(async (parse, ct) =>
        {
            TrainSettings s = LoadSettings(parse.GetValue(config));
            binder.Apply(parse, s);
            s.Validate();
            using var client = new R2MClient(s.ToClientOptions(RetryLogger(stdout)));
            var bar = new ProgressBar(s.RunName, s.Steps, stdout, !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out));
            var trainer = new R2MTrainer(client, s)
            {
                OnPhase = (step, phase) => bar.Phase(step - 1, $"step {step}: {phase}"),
                OnStep = m => bar.Step(m.Step, StepSummary(m)),
                OnRunId = id => stdout.WriteLine(s.Resume ? $"run {id} (resumed)" : $"run {id}" + (s.NoReset ? " (server not reset: --no-reset)" : "")),
            };
            stdout.WriteLine($"task {trainer.TaskName}, {s.RunName}, metrics {s.MetricsPath}");
            if (trainer.IsGoldLabelDiagnostic)
            {
                stdout.WriteLine($"task {trainer.TaskName}: GREBT pairs are picked by the gold reward: a diagnostic positive control, not R2M");
            }

            TrainResult result = await trainer.RunAsync(ct).ConfigureAwait(false);
            bar.Break();
            if (result.StartStep > 1)
            {
                stdout.WriteLine($"resumed from checkpoint '{s.CheckpointNameOrDefault}' at step {result.StartStep}");
            }

            var last = result.Steps[^1];
            stdout.WriteLine($"done: run {result.RunId}, {result.Steps.Count} steps, gold {Fmt(last.GoldReward, "F3")}, proxy {last.ProxyReward:F3}, kl {Fmt(last.Kl)}, '!' rate {Fmt(last.BangRate, "F2")}"
                + (last.EvalReward is { } er ? $", eval reward {er:F3}" + (last.EvalGold is { } eg ? $" gold {eg:F3}" : "") : "")
                + (result.HeldOut is { } h ? $", RM held-out accuracy {h.WithFeedback:F3} with feedback ({h.WithoutFeedback:F3} without)" : ""));
            if (result.EvalPairs is { } ep)
            {
                stdout.WriteLine($"eval pairs: {ep.Pairs}, RM accuracy at t = T {ep.WithFeedback:F3} with policy feedback, {ep.WithoutFeedback:F3} without");
            }

            stdout.WriteLine($"metrics: {Path.GetFullPath(s.MetricsPath)}");
            if (s.Plots)
            {
                foreach (string p in Sandbox.SandboxPlots.WriteAll(result.Steps, Path.Combine(s.OutDirectory, "plots")))
                {
                    stdout.WriteLine($"plot: {Path.GetFullPath(p)}");
                }
            }

            return 0;
        });
        return command;
    }

    private static Command DemoCommand(TextWriter stdout)
    {
        var command = new Command("demo", "the main job: sandbox models, a server, GRPO with the frozen proxy RM, GRPO + R2M and the ablations, one table");
        var config = new Option<string>("--config") { Description = "JSON config file of training settings applied to every variant" };
        command.Options.Add(config);
        var demoDefaults = new DemoSettings();
        var demoBinder = new SettingsBinder<DemoSettings>(command, demoDefaults);
        TrainSettings trainDefaults = DemoTrainDefaults();
        var trainBinder = new SettingsBinder<TrainSettings>(command, trainDefaults, p => !NotForDemo.Contains(p.Name));
        command.SetAction(async (parse, ct) =>
        {
            var demo = new DemoSettings();
            demoBinder.Apply(parse, demo);
            TrainSettings s = parse.GetValue(config) is { } path ? TrainSettings.LoadOnto(path, DemoTrainDefaults()) : DemoTrainDefaults();
            trainBinder.Apply(parse, s);
            s.Validate();
            bool interactive = !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);
            var runner = new DemoRunner(demo, s, stdout)
            {
                Hooks = run =>
                {
                    var bar = new ProgressBar($"{run.RunName,-28}", run.Steps, stdout, interactive);
                    return (m => bar.Step(m.Step, StepSummary(m)), (step, phase) => bar.Phase(step - 1, $"step {step}: {phase}"));
                },
            };
            DemoResult? result = await runner.RunAsync(ct).ConfigureAwait(false);
            if (result is null)
            {
                return 0;
            }

            stdout.WriteLine();
            stdout.WriteLine($"demo: {result.Rows.Count} variants x {demo.Seeds} seed(s), {s.Steps} steps each, in {result.Elapsed.TotalSeconds:F0} s");
            stdout.WriteLine();
            stdout.Write(result.Table);
            stdout.WriteLine();
            foreach (string p in result.Plots)
            {
                stdout.WriteLine($"plot: {Path.GetFullPath(p)}");
            }

            stdout.WriteLine($"report: {Path.GetFullPath(result.ReportPath)}");
            return 0;
        });
        return command;
    }

    private static Command StatusCommand(TextWriter stdout)
    {
        var command = new Command("status", "what a server hosts: models, versions, rollout store, limits");
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(),
            p => p.Name is nameof(TrainSettings.Server) or nameof(TrainSettings.ApiKeyFile) or nameof(TrainSettings.Timeout) or nameof(TrainSettings.Retries));
        command.SetAction(async (parse, ct) =>
        {
            var s = new TrainSettings();
            binder.Apply(parse, s);
            using var client = new R2MClient(s.ToClientOptions());
            var info = await client.InfoAsync(ct).ConfigureAwait(false);
            stdout.WriteLine($"server {client.Options.NormalizedAddress()} version {info.ServerVersion}");
            stdout.WriteLine($"policy:       {Describe(info.Policy)}");
            stdout.WriteLine($"reward model: {Describe(info.RewardModel)}");
            if (info.RewardHead is { } h)
            {
                stdout.WriteLine($"R2M head:     attention dim {h.AttentionDim}, heads {h.AttentionHeads}, feedback width {h.FeedbackWidth}, {h.TrainableParameterCount} trainable parameters");
            }

            stdout.WriteLine($"versions:     policy {info.PolicyVersion}, rm {info.RmVersion}" +
                (info.LastSchedule is { } sch ? $", last schedule t={sch.Step}/T={sch.TotalSteps}" : ""));
            if (info.Store is { } st)
            {
                stdout.WriteLine($"store:        {st.Rollouts} rollouts, {st.Bytes} / {st.CapacityBytes} bytes, {st.EvictedTotal} evicted, {st.Hits} hits, {st.Misses} misses");
            }

            if (info.Limits is { } l)
            {
                stdout.WriteLine($"limits:       receive {l.MaxReceiveMessageBytes} B, send {l.MaxSendMessageBytes} B, K <= {l.MaxSamplesPerPrompt}, rollouts/call <= {l.MaxRolloutsPerGenerate}, " +
                    $"api key {(l.ApiKeyConfigured ? (l.ApiKeyRequiredForAll ? "required for all calls" : "required for mutating calls") : "off")}");
            }

            return 0;
        });
        return command;
    }

    /// <summary>
    /// Demo defaults, sized by measurement so that set-up, build and all eight variants fit 10
    /// minutes on 2 cores (docs/client.md has the figures). The policy learning rate is raised
    /// from the server's 1e-4 to 1e-3 so that 30 steps move the policy far enough for GRPO
    /// against the frozen proxy to show overoptimization (chosen on the VANILLA run alone:
    /// proxy -0.43 -> 3.86, gold 0.72 -> 0.59, '!' rate 0.23 -> 0.97), not tuned for R2M.
    /// </summary>
    internal static TrainSettings DemoTrainDefaults() => new()
    {
        Steps = 30,
        Prompts = 16,
        K = 4,
        PolicyLr = 1e-3,
        HeldOutPairs = 200,
    };

    private static TrainSettings LoadSettings(string? path) => path is null ? new TrainSettings() : TrainSettings.Load(path);

    internal static string StepSummary(Sandbox.VariantStepMetrics m)
    {
        string grebt = m.BtLoss is { } bt ? FormattableString.Invariant($" bt {bt:F3} gre {m.GreLoss ?? 0:F3}") : "";
        return FormattableString.Invariant($"gold {Fmt(m.GoldReward, "F3")} proxy {m.ProxyReward:F3} kl {Fmt(m.Kl)} '!' {Fmt(m.BangRate, "F2")}{grebt} ({m.ElapsedSeconds ?? 0:F0} s)");
    }

    /// <summary>A metric for the summary lines; "-" when the step did not produce it (no gold for user prompts).</summary>
    private static string Fmt(double? v, string format = "F4") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "-";

    private static string Describe(Api.V1.ModelInfo? m) => m is null ? "-"
        : $"{m.Name} ({m.Architecture}, hidden {m.HiddenSize}, {m.NumLayers} layers, vocab {m.VocabSize}, context {m.ContextLength}, {m.ParameterCount} parameters)";

    internal static Action<string, int, Exception, TimeSpan> RetryLogger(TextWriter log) =>
        (call, attempt, e, delay) => log.WriteLine($"\n{call}: {e.Message}; retry {attempt} in {delay.TotalSeconds:F1} s");

    internal static IEnumerable<PropertyInfo> SettingProperties<T>() =>
        typeof(T).GetProperties().Where(p => p.GetCustomAttribute<SettingAttribute>() is not null);
}
