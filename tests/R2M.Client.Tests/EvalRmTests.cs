using System.Globalization;
using R2M.Api.V1;
using R2M.Client.Cli;
using R2M.Sandbox;

namespace R2M.Client.Tests;

/// <summary><c>eval-rm --pairs</c> and <c>train --eval-pairs</c> against the real r2m-server of <see cref="KeyedServerFixture"/>.</summary>
[Collection(RealServerCollection.Name)]
public sealed class EvalRmTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    // Sandbox text pairs: the chosen response is the exact sort, the rejected one is not.
    private static readonly (string Prompt, string Chosen, string Rejected)[] Pairs =
    [
        ("sort 3 1 2 =", " 1 2 3", " 3 2 1"),
        ("sort 9 4 =", " 4 9", " 9 4 4"),
        ("sort 5 0 7 1 =", " 0 1 5 7", " 7 5 1 0"),
        ("sort 2 2 8 =", " 2 2 8", " 8"),
        ("sort 6 3 =", " 3 6", " 3 6 !"),
        ("sort 1 9 0 =", " 0 1 9", " 0 9 1"),
    ];

    private async Task<(int Rc, string Output, string Error)> RunAsync(params string[] args)
    {
        string keyFile = Path.Combine(RealServer.TempDir("eval-rm"), "key");
        await File.WriteAllTextAsync(keyFile, KeyedServerFixture.ApiKey);
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync([.. args, "--server", fixture.Server.Address, "--api-key-file", keyFile], output, error).WaitAsync(Limit);
        return (rc, output.ToString(), error.ToString());
    }

    private static async Task<string> PairsFileAsync(string dir)
    {
        string path = Path.Combine(dir, "pairs.jsonl");
        await File.WriteAllLinesAsync(path, Pairs.Select((p, i) =>
            $$"""{"prompt": "{{p.Prompt}}", "chosen": "{{p.Chosen}}", "rejected": "{{p.Rejected}}", "id": "p{{i}}"}"""));
        return path;
    }

    private static double Accuracy(string output, string label)
    {
        string line = output.Split('\n').Single(l => l.StartsWith(label, StringComparison.Ordinal));
        return double.Parse(line[label.Length..].Trim(), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task EvalRm_R2M_WithFeedbackEqualsTeacherForcedHiddenStatesSentInline()
    {
        string pairs = await PairsFileAsync(RealServer.TempDir("eval-rm"));
        var (rc, output, error) = await RunAsync("eval-rm", "--pairs", pairs, "--total-steps", "10");
        Assert.True(rc == 0, $"{error}\n{output}\nserver:\n{fixture.Server.OutputTail}");
        Assert.Contains($"eval-rm: {Pairs.Length} pairs, variant R2M, t = 10, T = 10", output);
        double with = Accuracy(output, "accuracy with policy feedback:");
        double without = Accuracy(output, "accuracy without feedback:");
        Assert.InRange(with, 0, 1);
        Assert.InRange(without, 0, 1);

        // The same accuracy by another route: the policy's teacher-forced hidden states returned to
        // the client (F32) and sent back inline with the same token ids, the external-trainer path.
        Assert.Equal(Math.Round(DirectAccuracy(await DirectRewardsAsync()), 3), with); // the CLI prints F3
    }

    [Fact]
    public async Task EvalRm_Vanilla_WithAndWithoutFeedbackAgree()
    {
        string pairs = await PairsFileAsync(RealServer.TempDir("eval-rm"));
        var (rc, output, error) = await RunAsync("eval-rm", "--pairs", pairs, "--variant", "vanilla");
        Assert.True(rc == 0, $"{error}\n{output}");
        Assert.Contains("variant Vanilla", output, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(Accuracy(output, "accuracy without feedback:"), Accuracy(output, "accuracy with policy feedback:"));
    }

    [Fact]
    public async Task EvalRm_BadLine_ErrorNamesFileAndLine()
    {
        string dir = RealServer.TempDir("eval-rm");
        string path = Path.Combine(dir, "bad.jsonl");
        await File.WriteAllLinesAsync(path, ["""{"prompt": "sort 2 1 =", "chosen": " 1 2", "rejected": " 2 1"}""", """{"prompt": "sort 2 1 =", "chosen": " 1 2"}"""]);
        var (rc, output, error) = await RunAsync("eval-rm", "--pairs", path);
        Assert.Equal(1, rc);
        Assert.Contains("bad.jsonl:2", error + output);
        Assert.Contains("rejected", error + output);
    }

    [Fact]
    public async Task EvalRm_NoPairs_UsageError()
    {
        var (rc, _, error) = await RunAsync("eval-rm");
        Assert.NotEqual(0, rc);
        Assert.Contains("--pairs", error);
    }

    [Fact]
    public async Task TrainCli_EvalPairs_PrintsAccuracyAtTWithAndWithoutFeedback()
    {
        string dir = RealServer.TempDir("eval-pairs");
        string pairs = await PairsFileAsync(dir);
        string outDir = Path.Combine(dir, "run");
        var (rc, output, error) = await RunAsync("train", "--steps", "2", "--prompts", "2", "--k", "2", "--max-new-tokens", "6",
            "--held-out-pairs", "0", "--plots", "false", "--out", outDir, "--eval-pairs", pairs);
        Assert.True(rc == 0, $"{error}\n{output}\nserver:\n{fixture.Server.OutputTail}");
        string line = output.Split('\n').Single(l => l.StartsWith("eval pairs:", StringComparison.Ordinal));
        Assert.Contains($"eval pairs: {Pairs.Length}, RM accuracy at t = T ", line);
        Assert.Contains(" with policy feedback, ", line);
        Assert.EndsWith(" without", line.TrimEnd());
    }

    /// <summary>Chosen and rejected rewards per pair through TeacherForce (hidden states returned) and inline Score.</summary>
    private async Task<List<float>> DirectRewardsAsync()
    {
        using var client = new R2MClient(new R2MClientOptions { Address = fixture.Server.Address, ApiKey = KeyedServerFixture.ApiKey });
        var request = new TeacherForceRequest { ReturnHiddenStates = true, HiddenStatesDtype = DType.F32 };
        var encoded = new List<(int[] Ids, int PromptLength)>();
        foreach (var (prompt, chosen, rejected) in Pairs)
        {
            foreach (string response in new[] { chosen, rejected })
            {
                (int[] ids, int promptLength) = SandboxVocabulary.EncodeExample(prompt, response);
                encoded.Add((ids, promptLength));
                request.Items.Add(new TeacherForceItem
                {
                    Prompt = new Prompt { TokenIds = new TokenIds { Ids = { ids[..promptLength] } } },
                    ResponseTokenIds = new TokenIds { Ids = { ids[promptLength..] } },
                });
            }
        }

        IReadOnlyList<Rollout> rollouts = await client.TeacherForceAsync(request);
        var options = new ScoreOptions { Variant = VariantConfig.R2M, Schedule = new Schedule { Step = 10, TotalSteps = 10, OmegaFloor = 0.6f } };
        var messages = rollouts.Select((r, i) => new ScoreRequest
        {
            ItemId = $"d{i}",
            Inline = new InlineItem
            {
                PromptTokenIds = new TokenIds { Ids = { encoded[i].Ids[..encoded[i].PromptLength] } },
                ResponseTokenIds = new TokenIds { Ids = { encoded[i].Ids[encoded[i].PromptLength..] } },
            },
            HiddenStates = r.HiddenStates,
            Options = options,
        }).ToList();
        IReadOnlyList<ScoreReply> replies = await client.ScoreAsync(messages);
        Assert.All(replies, r => Assert.Null(r.Error));
        var byId = await client.ScoreRolloutsAsync([.. rollouts.Select(r => r.RolloutId)], options);
        Assert.Equal(byId.Select(r => r.Reward).ToArray(), replies.Select(r => r.Reward).ToArray());
        return [.. replies.Select(r => r.Reward)];
    }

    private static double DirectAccuracy(List<float> rewards) =>
        SandboxReport.PairAccuracy([.. rewards.Where((_, i) => i % 2 == 0).Select(r => (double)r)], [.. rewards.Where((_, i) => i % 2 == 1).Select(r => (double)r)]);
}
