using System.CommandLine;
using System.Globalization;
using R2M.Api.V1;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary><c>r2m-client score</c> (rewards for prompt/response texts or stored rollouts) and <c>eval-rm</c> (accuracy on held-out pairs).</summary>
internal static class ScoreCommands
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("score", "score responses (inline text, no policy feedback) or stored rollouts by id");
        var prompt = new Option<string>("--prompt") { Description = "prompt text, e.g. \"sort 3 1 2 =\"" };
        var responses = new Option<string[]>("--response") { Description = "response text (repeatable), e.g. \" 1 2 3\"", AllowMultipleArgumentsPerToken = false };
        var rollouts = new Option<string[]>("--rollout-id") { Description = "stored rollout id (repeatable)" };
        command.Options.Add(prompt);
        command.Options.Add(responses);
        command.Options.Add(rollouts);
        var scoring = new ScoringOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            (TrainSettings s, ScoreOptions options) = scoring.Read(parse);
            string[] texts = parse.GetValue(responses) ?? [];
            string[] ids = parse.GetValue(rollouts) ?? [];
            string? promptText = parse.GetValue(prompt);
            if (texts.Length == 0 && ids.Length == 0)
            {
                throw new ArgumentException("score needs --response (with --prompt) or --rollout-id");
            }

            if (texts.Length > 0 && promptText is null)
            {
                throw new ArgumentException("--response needs --prompt");
            }

            var messages = new List<ScoreRequest>();
            var labels = new List<string>();
            foreach (string r in texts)
            {
                messages.Add(new ScoreRequest { ItemId = messages.Count.ToString(CultureInfo.InvariantCulture), Inline = new InlineItem { PromptText = promptText, ResponseText = r }, Options = options });
                labels.Add($"\"{r}\"");
            }

            foreach (string id in ids)
            {
                messages.Add(new ScoreRequest { ItemId = messages.Count.ToString(CultureInfo.InvariantCulture), RolloutId = id, Options = options });
                labels.Add(id);
            }

            using var client = new R2MClient(s.ToClientOptions());
            var replies = await client.ScoreAsync(messages, ct).ConfigureAwait(false);
            int failed = 0;
            for (int i = 0; i < replies.Count; i++)
            {
                ScoreReply r = replies[i];
                if (r.Error is { } e)
                {
                    failed++;
                    stdout.WriteLine($"{labels[i]}: error {(Grpc.Core.StatusCode)e.Code}: {e.Message}");
                }
                else
                {
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{labels[i]}: reward {r.Reward:F4} (vanilla {r.VanillaReward:F4}, omega {r.Omega:F3}, rm_version {r.RmVersion})"));
                    if (r.UnknownTokens > 0)
                    {
                        stdout.WriteLine($"{labels[i]}: warning: {r.UnknownTokens} character(s) of the prompt and response are outside the reward model's vocabulary "
                            + "(mapped to its unknown token, or dropped): this reward is for different text than was sent");
                    }
                }
            }

            return failed == 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>
    /// <c>r2m-client eval-rm --pairs FILE.jsonl</c>: the hosted reward model's accuracy on held-out
    /// preference pairs, with policy feedback (each response teacher-forced through the policy, then
    /// scored by rollout id) and without (inline text, phi(H_last)), at t = T by default.
    /// </summary>
    public static Command EvalRm(TextWriter stdout)
    {
        var command = new Command("eval-rm", "RM accuracy on held-out pairs ({\"prompt\", \"chosen\", \"rejected\"} per JSONL line), with and without policy feedback");
        var pairs = new Option<string>("--pairs") { Description = "JSONL file of held-out preference pairs", Required = true };
        command.Options.Add(pairs);
        var scoring = new ScoringOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            (TrainSettings s, ScoreOptions options) = scoring.Read(parse);
            IReadOnlyList<PairRecord> records = JsonlFile.ReadPairs(parse.GetValue(pairs)!);
            using var client = new R2MClient(s.ToClientOptions());
            HeldOutResult r = await new HeldOutEvaluator(client).EvaluateAsync(records, options, ct).ConfigureAwait(false);
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"eval-rm: {r.Pairs} pairs, variant {Variants.DisplayName(s.VariantConfig)}, t = {options.Schedule.Step}, T = {options.Schedule.TotalSteps}, omega floor {s.OmegaFloor:G3}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy with policy feedback: {r.WithFeedback:F3}"));
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy without feedback:     {r.WithoutFeedback:F3}"));
            return 0;
        });
        return command;
    }

    /// <summary>What score and eval-rm share: connection settings, --variant, --omega-floor and the schedule point (--step, --total-steps).</summary>
    private sealed class ScoringOptions
    {
        private readonly Option<ulong?> _step = new("--step") { Description = "schedule step t (default: T, the paper's evaluation point)" };
        private readonly Option<ulong> _total = new("--total-steps") { Description = "schedule T", DefaultValueFactory = _ => 1 };
        private readonly SettingsBinder<TrainSettings> _binder;

        public ScoringOptions(Command command)
        {
            command.Options.Add(_step);
            command.Options.Add(_total);
            _binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(), p => p.Name is nameof(TrainSettings.Server) or nameof(TrainSettings.ApiKeyFile)
                or nameof(TrainSettings.Timeout) or nameof(TrainSettings.Retries) or nameof(TrainSettings.Variant) or nameof(TrainSettings.OmegaFloor));
        }

        public (TrainSettings Settings, ScoreOptions Options) Read(ParseResult parse)
        {
            var s = new TrainSettings();
            _binder.Apply(parse, s);
            ulong t = parse.GetValue(_total);
            if (t == 0)
            {
                throw new ArgumentException("--total-steps must be >= 1");
            }

            var schedule = new Schedule { Step = parse.GetValue(_step) ?? t, TotalSteps = t, OmegaFloor = (float)s.OmegaFloor };
            return (s, new ScoreOptions { Variant = s.VariantConfig, Schedule = schedule });
        }
    }
}
