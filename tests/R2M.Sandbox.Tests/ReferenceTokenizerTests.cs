using System.Diagnostics;
using System.Text.Json;

namespace R2M.Sandbox.Tests;

// The generated tokenizer.json read by an independent implementation (@lenml/tokenizers, a fork
// of transformers.js's tokenizers, installed by scripts/setup.sh): it must give the same ids as
// SandboxVocabulary.Encode and decode back to the same text.
public sealed class ReferenceTokenizerTests
{
    private static readonly string[] Texts =
    [
        "sort 7 3 9 1 = 1 3 7 9 ! !<eos>",
        "sort 0 0 5 =",
        " 1 3 7 9",
        " 13 !!",
        "sorts rt so",
        "xé 1",
        "<bos><pad> 2<eos><eos>",
        "",
    ];

    [Fact]
    public void TokenizerJson_ReferenceImplementation_AgreesOnIdsAndText()
    {
        string root = RepoRoot();
        string nodeModules = Path.Combine(root, "tools", "node", "node_modules");
        Assert.True(Directory.Exists(Path.Combine(nodeModules, "@lenml", "tokenizers")),
            $"@lenml/tokenizers not found under {nodeModules}: run scripts/setup.sh");
        string script = Path.Combine(root, "tests", "R2M.Sandbox.Tests", "reference_tokenize.js");
        string dir = Path.Combine(Path.GetTempPath(), "r2m-sandbox-ref-" + Guid.NewGuid().ToString("N"));
        try
        {
            SandboxVocabulary.WriteTokenizerFiles(dir);
            string input = string.Join('\n', Texts.Select(t => JsonSerializer.Serialize(t))) + "\n";
            string[] lines = RunNode(script, nodeModules, dir, input);

            Assert.Equal(Texts.Length, lines.Length);
            for (int i = 0; i < Texts.Length; i++)
            {
                using JsonDocument reply = JsonDocument.Parse(lines[i]);
                int[] ids = reply.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                int[] ours = SandboxVocabulary.Encode(Texts[i]);
                Assert.True(ours.SequenceEqual(ids), $"\"{Texts[i]}\": ours [{string.Join(',', ours)}] reference [{string.Join(',', ids)}]");
                Assert.Equal(SandboxVocabulary.Decode(ours), reply.RootElement.GetProperty("decoded").GetString());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string[] RunNode(string script, string nodeModules, string dir, string input)
    {
        var start = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(nodeModules);
        start.ArgumentList.Add(dir);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"node (Node 20) is not on PATH: run scripts/setup.sh ({e.Message})");
            throw;
        }
        using (process)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("the reference tokenizer (node) did not finish within 60 s");
            }
            Assert.True(process.ExitCode == 0, $"node exited with {process.ExitCode}: {stderr.Result}");
            return stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    internal static string RepoRoot()
    {
        string? env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln")))
        {
            return env;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"R2M.Grpc.sln not found above {AppContext.BaseDirectory}; set R2M_REPO_ROOT");
    }
}
