using System.CommandLine;
using System.Globalization;
using R2M.Api.V1;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary>
/// <c>r2m-client eval-rm --pairs FILE.jsonl</c>: the hosted reward model's accuracy on held-out
/// preference pairs, with policy feedback (each response teacher-forced through the policy, then
/// scored by rollout id) and without (inline text, phi(H_last)), at t = T by default.
/// </summary>
internal static class EvalCommands
{
    public static Command EvalRm(TextWriter stdout)
    {
        var command = new Command("eval-rm", "RM accuracy on held-out pairs ({\"prompt\", \"chosen\", \"rejected\"} per JSONL line), with and without policy feedback");
        var pairs = new Option<string>("--pairs") { Description = "JSONL file of held-out preference pairs", Required = true };
        var step = new Option<ulong?>("--step") { Description = "schedule step t (default: T, the paper's evaluation point)" };
        var total = new Option<ulong>("--total-steps") { Description = "schedule T", DefaultValueFactory = _ => 1 };
        command.Options.Add(pairs);
        command.Options.Add(step);
        command.Options.Add(total);
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(), p => p.Name is nameof(TrainSettings.Server) or nameof(TrainSettings.ApiKeyFile)
            or nameof(TrainSettings.Timeout) or nameof(TrainSettings.Retries) or nameof(TrainSettings.Variant) or nameof(TrainSettings.OmegaFloor));
        command.SetAction(async (parse, ct) =>
        {
            var s = new TrainSettings();
            binder.Apply(parse, s);
            ulong t = parse.GetValue(total);
            if (t == 0)
            {
                throw new ArgumentException("--total-steps must be >= 1");
            }

            IReadOnlyList<PairRecord> records = JsonlFile.ReadPairs(parse.GetValue(pairs)!);
            var schedule = new Schedule { Step = parse.GetValue(step) ?? t, TotalSteps = t, OmegaFloor = (float)s.OmegaFloor };
            using var client = new R2MClient(s.ToClientOptions());
            HeldOutResult r = await new HeldOutEvaluator(client).EvaluateAsync(records, new ScoreOptions { Variant = s.VariantConfig, Schedule = schedule }, ct).ConfigureAwait(false);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"eval-rm: {r.Pairs} pairs, variant {Variants.DisplayName(s.VariantConfig)}, t = {schedule.Step}, T = {t}, omega floor {s.OmegaFloor:G3}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy with policy feedback: {r.WithFeedback:F3}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy without feedback:     {r.WithoutFeedback:F3}"));
            return 0;
        });
        return command;
    }
}
