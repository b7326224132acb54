using System.Diagnostics;
using System.Text.Json;
using R2M.Client;
using R2M.Client.Tests;

namespace R2M.Api.Tests;

// The Python example trainer (clients/python/train_grpo.py) against the real r2m-server process
// (its built output, on a loopback port, on the sandbox models), with stubs generated from
// protos/r2m/v1 by Debian's protoc 3.21 + grpc_python_plugin and Debian's python3-grpcio.
public sealed class PythonClientTests
{
    private const string Python = "/usr/bin/python3";
    private const string ApiKey = "py-secret";

    [Fact]
    public async Task PythonTrainer_RealServer_GrpoStepsWithApiKey()
    {
        string root = RealServer.RepoRoot();
        string client = Path.Combine(root, "clients", "python");
        Assert.True(File.Exists(Python), $"{Python} not found: run scripts/setup.sh (python3-grpcio, python3-protobuf)");
        string work = RealServer.TempDir("py");
        string stubs = Path.Combine(work, "stubs");
        try
        {
            (int rc, string output) = Run("bash", [Path.Combine(client, "generate_stubs.sh"), stubs], client);
            Assert.True(rc == 0, $"generate_stubs.sh failed ({rc}); run scripts/setup.sh:\n{output}");

            await using ServerProcess server = await RealServer.StartAsync(Path.Combine(work, "cp"), ApiKey);
            string address = $"127.0.0.1:{server.Port}";
            string metrics = Path.Combine(work, "metrics.jsonl");
            string keyFile = Path.Combine(work, "key");
            await File.WriteAllTextAsync(keyFile, ApiKey + "\n");
            (rc, output) = Run(Python, [Path.Combine(client, "train_grpo.py"), "--address", address, "--api-key-file", keyFile, "--stubs", stubs,
                "--steps", "3", "--prompts", "2", "--k", "3", "--max-new-tokens", "10", "--metrics", metrics], client);
            Assert.True(rc == 0, $"train_grpo.py failed ({rc}):\n{output}\nserver:\n{server.OutputTail}");
            var lines = File.ReadAllLines(metrics).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.Equal([1, 2, 3], lines.Select(l => l.GetProperty("step").GetInt32()));
            Assert.All(lines, l => Assert.InRange(l.GetProperty("goldReward").GetDouble(), 0, 1));
            Assert.All(lines, l => Assert.True(l.TryGetProperty("btLoss", out _), "R2M updates the RM every step"));
            ulong[] rm = lines.Select(l => l.GetProperty("rmVersion").GetUInt64()).ToArray();
            ulong[] policy = lines.Select(l => l.GetProperty("policyVersion").GetUInt64()).ToArray();
            Assert.Equal([rm[0], rm[0] + 1, rm[0] + 2], rm);
            Assert.Equal([policy[0], policy[0] + 1, policy[0] + 2], policy);

            // Without the key the first mutating call (Optimize) is refused, with a clear message.
            (rc, output) = Run(Python, [Path.Combine(client, "train_grpo.py"), "--address", address, "--stubs", stubs,
                "--steps", "1", "--prompts", "1", "--k", "2", "--max-new-tokens", "6"], client);
            Assert.NotEqual(0, rc);
            Assert.Contains("Optimize failed: UNAUTHENTICATED", output);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    internal static (int ExitCode, string Output) Run(string file, string[] args, string workingDirectory)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        start.Environment.Remove("R2M_API_KEY"); // the key only where the test gives it (--api-key-file)
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(150)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within 150 s");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
