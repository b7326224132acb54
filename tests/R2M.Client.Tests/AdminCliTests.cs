using R2M.Client.Cli;

namespace R2M.Client.Tests;

/// <summary><c>reset</c> and <c>generate</c> against the real r2m-server of <see cref="KeyedServerFixture"/>.</summary>
[Collection(RealServerCollection.Name)]
public sealed class AdminCliTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    private async Task<(int Rc, string Output, string Error)> RunAsync(params string[] args)
    {
        string keyFile = Path.Combine(RealServer.TempDir("admin-cli"), "key");
        await File.WriteAllTextAsync(keyFile, KeyedServerFixture.ApiKey);
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync([.. args, "--server", fixture.Server.Address, "--api-key-file", keyFile], output, error).WaitAsync(Limit);
        return (rc, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task GenerateCli_PrintsRolloutIds_ThatScoreByIdFinds()
    {
        var (rc, output, error) = await RunAsync("generate", "--prompt", "sort 3 1 2 =", "--k", "3", "--max-new-tokens", "6", "--seed", "7");
        Assert.True(rc == 0, error);
        string[] ids = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]).ToArray();
        Assert.Equal(3, ids.Length);
        Assert.Equal(3, ids.Distinct().Count());

        (rc, output, error) = await RunAsync(["score", .. ids.SelectMany(id => new[] { "--rollout-id", id })]);
        Assert.True(rc == 0, error + output);
        Assert.All(ids, id => Assert.Contains($"{id}: reward ", output));
    }

    [Fact]
    public async Task ResetCli_ClearsTheStore_SoAnEarlierRolloutIsGone()
    {
        var (rc, output, error) = await RunAsync("generate", "--prompt", "sort 5 4 =", "--k", "1", "--max-new-tokens", "4");
        Assert.True(rc == 0, error);
        string id = output.Split('\t')[0];

        (rc, output, error) = await RunAsync("reset", "--seed", "3");
        Assert.True(rc == 0, error);
        Assert.Contains("reset: policy version ", output);

        (rc, output, _) = await RunAsync("score", "--rollout-id", id);
        Assert.Equal(1, rc);
        Assert.Contains($"{id}: error NotFound", output);
    }

    [Fact]
    public async Task ScoreCli_TextOutsideRmVocabulary_WarnsWithTheCount()
    {
        var (rc, output, error) = await RunAsync("score", "--prompt", "sort 3 x 1 =", "--response", " 1 3", "--response", " 1 3");
        Assert.True(rc == 0, error + output);
        string[] warnings = [.. output.Split('\n').Where(l => l.Contains("warning:", StringComparison.Ordinal))];
        Assert.Equal(2, warnings.Length);
        Assert.All(warnings, w => Assert.Contains("1 character(s) of the prompt and response are outside the reward model's vocabulary", w));

        (rc, output, error) = await RunAsync("score", "--prompt", "sort 3 1 =", "--response", " 1 3");
        Assert.True(rc == 0, error + output);
        Assert.DoesNotContain("warning", output);
    }

    [Fact]
    public async Task GenerateCli_NoPrompt_UsageError()
    {
        var (rc, _, error) = await RunAsync("generate", "--k", "2");
        Assert.NotEqual(0, rc);
        Assert.Contains("--prompt", error);
    }
}
