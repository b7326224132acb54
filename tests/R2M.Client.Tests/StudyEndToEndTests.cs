using System.Text.Json;
using R2M.Client.Cli;
using R2M.Client.Training;

namespace R2M.Client.Tests;

/// <summary>
/// <c>r2m-client study</c> at toy size against real r2m-server processes it starts itself: the
/// validation grid, the nine rows, the results table, resuming a finished study and refusing a
/// folder that holds a study with other settings.
/// </summary>
[Collection(RealServerCollection.Name)]
public sealed class StudyEndToEndTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(6);

    private static async Task<(int Rc, string Output, string Error)> StudyAsync(string root, params string[] extra)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] args = ["study", "--models-dir", Path.Combine(root, "models"), "--out", Path.Combine(root, "out"),
            "--tasks", "beyond-semantics", "--seeds", "1", "--validation-seeds", "101", "--rm-lr-grid", "1e-3,1e-2",
            "--steps", "2", "--k", "2", "--prompts", "2", "--max-new-tokens", "6", "--held-out-pairs", "0", .. extra];
        int rc = await ClientCli.RunAsync(args, output, error).WaitAsync(Limit);
        return (rc, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task StudyCli_ToySize_NineRowsGridChoiceResumeAndPlanCheck()
    {
        string root = RealServer.TempDir("study");
        var (rc, output, error) = await StudyAsync(root, "--window", "1");
        Assert.True(rc == 0, $"study failed ({rc}): {error}\n{output}");
        string outDir = Path.Combine(root, "out");
        Assert.Contains("study: 11 runs done, 0 found done", output);

        // Two validation runs (one per grid value) and nine test rows, each with its result.
        string[] results = Directory.GetFiles(Path.Combine(outDir, "runs"), "result.json", SearchOption.AllDirectories);
        Assert.Equal(11, results.Length);
        var chosen = JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(Path.Combine(outDir, "rm-lr.json")))!;
        Assert.Contains(chosen["beyond-semantics"], new[] { 1e-3, 1e-2 });
        StudyRunRecord oracle = JsonSerializer.Deserialize<StudyRunRecord>(File.ReadAllText(Path.Combine(outDir, "runs", "test", "beyond-semantics", "oracle", "seed-1", "result.json")))!;
        Assert.Equal(chosen["beyond-semantics"], oracle.RmLr);
        Assert.InRange(oracle.G, 0, 1);

        string md = File.ReadAllText(Path.Combine(outDir, "results.md"));
        string[] rows = md.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| row", StringComparison.Ordinal) && !l.StartsWith("| task", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2 * StudyRunner.Rows.Count + 1, rows.Length); // nine rows, the same nine in the secondary table, and the grid's one line
        Assert.All(StudyRunner.Rows, r => Assert.Contains(rows, l => l.StartsWith($"| {r} | 1 | ", StringComparison.Ordinal)));
        Assert.Contains("- R2M - ITERATIVE_RM_HEAD: ", md);
        Assert.True(File.Exists(Path.Combine(outDir, "plots", "beyond-semantics", "gold.png")));

        // Run again: every run is found done, nothing is retrained.
        (rc, output, error) = await StudyAsync(root, "--window", "1");
        Assert.True(rc == 0, error);
        Assert.Contains("study: 0 runs done, 11 found done", output);

        // Other settings into the same folder: refused, nothing run.
        (rc, _, error) = await StudyAsync(root, "--window", "2");
        Assert.Equal(1, rc);
        Assert.Contains("plan.json records a study with other settings", error);
    }

    [Theory]
    [InlineData("--seeds", "1,2", "--validation-seeds", "2,3", "seed(s) 2 both test and validation seeds")]
    [InlineData("--seeds", "1,x", "--window", "10", "--seeds: 'x' is not a seed")]
    [InlineData("--rm-lr-grid", "1e-3,-1", "--window", "10", "--rm-lr-grid: '-1' is not a positive number")]
    [InlineData("--tasks", "spurious,nope", "--window", "10", "unknown sandbox task 'nope'")]
    public async Task StudyCli_BadSettings_ErrorNamesTheFlag(string flag1, string value1, string flag2, string value2, string expected)
    {
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync(["study", "--out", RealServer.TempDir("study-bad"), flag1, value1, flag2, value2], new StringWriter(), error).WaitAsync(Limit);
        Assert.Equal(1, rc);
        Assert.Contains(expected, error.ToString());
    }
}
