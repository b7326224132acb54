using System.Diagnostics;

namespace R2M.Api.Tests;

// The Python example trainer (clients/python) against the same protos: stubs generated with
// Debian's protoc 3.21 + grpc_python_plugin, then its unittest suite, which drives the real
// training loop code over gRPC against toy_server.py (a Python stand-in for the server).
public sealed class PythonClientTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public void PythonTrainer_GeneratedStubs_PassItsTestsAgainstToyServer()
    {
        string root = RepoRoot();
        string client = Path.Combine(root, "clients", "python");
        Assert.True(File.Exists(Python), $"{Python} not found: run scripts/setup.sh (python3-grpcio, python3-protobuf)");
        string stubs = Path.Combine(Path.GetTempPath(), "r2m-py-stubs-" + Guid.NewGuid().ToString("N"));
        try
        {
            (int rc, string output) = Run("bash", [Path.Combine(client, "generate_stubs.sh"), stubs], client, stubs);
            Assert.True(rc == 0, $"generate_stubs.sh failed ({rc}); run scripts/setup.sh:\n{output}");
            Assert.True(File.Exists(Path.Combine(stubs, "r2m", "v1", "reward_model_pb2_grpc.py")), output);

            (rc, output) = Run(Python, ["-m", "unittest", "-v", "test_train_grpo"], client, stubs);
            Assert.True(rc == 0, $"python tests failed ({rc}):\n{output}");
            Assert.Contains("Ran 8 tests", output);
            Assert.Contains("OK", output);
        }
        finally
        {
            if (Directory.Exists(stubs))
            {
                Directory.Delete(stubs, recursive: true);
            }
        }
    }

    private static (int ExitCode, string Output) Run(string file, string[] args, string workingDirectory, string stubs)
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
        start.Environment["R2M_PY_STUBS"] = stubs;
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within 120 s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string RepoRoot()
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
