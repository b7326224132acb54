using System.CommandLine;
using System.Globalization;
using R2M.Api.V1;
using R2M.Client.Training;

namespace R2M.Client.Cli;

/// <summary><c>r2m-client score</c>: rewards for prompt/response texts or stored rollouts.</summary>
internal static class ScoreCommands
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("score", "score responses (inline text, no policy feedback) or stored rollouts by id");
        var prompt = new Option<string>("--prompt") { Description = "prompt text, e.g. \"sort 3 1 2 =\"" };
        var responses = new Option<string[]>("--response") { Description = "response text (repeatable), e.g. \" 1 2 3\"", AllowMultipleArgumentsPerToken = false };
        var rollouts = new Option<string[]>("--rollout-id") { Description = "stored rollout id (repeatable)" };
        var step = new Option<ulong?>("--step") { Description = "schedule step t (default: T, evaluation)" };
        var total = new Option<ulong>("--total-steps") { Description = "schedule T", DefaultValueFactory = _ => 1 };
        command.Options.Add(prompt);
        command.Options.Add(responses);
        command.Options.Add(rollouts);
        command.Options.Add(step);
        command.Options.Add(total);
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings(), p => p.Name is nameof(TrainSettings.Server) or nameof(TrainSettings.ApiKeyFile)
            or nameof(TrainSettings.Timeout) or nameof(TrainSettings.Retries) or nameof(TrainSettings.Variant) or nameof(TrainSettings.OmegaFloor));
        command.SetAction(async (parse, ct) =>
        {
            var s = new TrainSettings();
            binder.Apply(parse, s);
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

            ulong t = parse.GetValue(total);
            var options = new ScoreOptions
            {
                Variant = s.VariantConfig,
                Schedule = new Schedule { Step = parse.GetValue(step) ?? t, TotalSteps = t, OmegaFloor = (float)s.OmegaFloor },
            };
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
}
