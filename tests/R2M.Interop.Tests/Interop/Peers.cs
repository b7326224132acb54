using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace R2M.Interop.Tests.Interop;

/// <summary>Outcome of one interop case, as printed by every client (ours and the foreign ones).</summary>
internal sealed record CaseResult(string Case, bool Ok, string Detail);

/// <summary>Locates and runs the foreign peers (grpcio via /usr/bin/python3, grpc-js via node).</summary>
internal static class Peers
{
    public const string Python = "/usr/bin/python3";
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    public static string RepoRoot => Root.Value;

    public static string PeersDir => Path.Combine(RepoRoot, "tests", "R2M.Interop.Tests", "Interop", "peers");

    /// <summary>Fails (never skips) with the fix when grpcio, protoc or its plugin are missing.</summary>
    public static void RequirePython()
    {
        var (rc, output) = Run(Python, ["-c", "import grpc, google.protobuf"], TimeSpan.FromSeconds(30));
        Assert.True(rc == 0, $"The grpcio peer needs {Python} with grpcio and protobuf (Debian python3-grpcio, python3-protobuf): " +
            $"run scripts/setup.sh. Output: {output}");
        foreach (var tool in new[] { "/usr/bin/protoc", "/usr/bin/grpc_python_plugin" })
        {
            Assert.True(File.Exists(tool), $"{tool} is missing (Debian protobuf-compiler, protobuf-compiler-grpc): run scripts/setup.sh.");
        }
    }

    /// <summary>Fails with the fix when node or @grpc/grpc-js are missing.</summary>
    public static void RequireNode()
    {
        var module = Path.Combine(RepoRoot, "tools", "node", "node_modules", "@grpc", "grpc-js");
        Assert.True(Directory.Exists(module), $"{module} is missing: run scripts/setup.sh (npm install into tools/node).");
        var (rc, output) = Run("node", ["--version"], TimeSpan.FromSeconds(30));
        Assert.True(rc == 0, $"node is not runnable ({output}); install Node 20 and run scripts/setup.sh.");
    }

    /// <summary>Runs a peer client script against <paramref name="target"/> (host:port) and parses its JSON lines.</summary>
    public static async Task<List<CaseResult>> RunClientAsync(
        string exe, string script, string target, TimeSpan timeout, string? cases = null, IEnumerable<string>? extraArgs = null)
    {
        var args = new List<string> { Path.Combine(PeersDir, script), target };
        if (cases is not null)
        {
            args.AddRange(["--cases", cases]);
        }

        args.AddRange(extraArgs ?? []);

        var psi = StartInfo(exe, args);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{script} did not finish within {timeout}. Output so far: {await stdout}");
        }

        var results = ParseResults(await stdout);
        Assert.True(process.ExitCode == 0 && results.Count > 0,
            $"{script} exited with {process.ExitCode} after {results.Count} cases. stderr: {Tail(await stderr)}");
        return results;
    }

    public static List<CaseResult> ParseResults(string output)
    {
        var results = new List<CaseResult>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("case", out var name))
            {
                results.Add(new CaseResult(name.GetString()!, doc.RootElement.GetProperty("ok").GetBoolean(),
                    doc.RootElement.GetProperty("detail").GetString() ?? ""));
            }
        }

        return results;
    }

    /// <summary>Asserts that every case of the suite ran and passed, listing all failures at once.</summary>
    public static void AssertAllPassed(string pairing, IReadOnlyList<CaseResult> results, IEnumerable<string>? expectedCases = null)
    {
        var expected = (expectedCases ?? InteropCases.Names).ToList();
        var missing = expected.Where(c => results.All(r => r.Case != c)).ToList();
        var failed = results.Where(r => !r.Ok).Select(r => $"{r.Case}: {r.Detail}").ToList();
        failed.AddRange(missing.Select(m => $"{m}: did not run"));
        Assert.True(failed.Count == 0, $"{pairing}: {failed.Count} failing case(s):\n  " + string.Join("\n  ", failed));
    }

    internal static ProcessStartInfo StartInfo(string exe, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = PeersDir,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        // A PYTHONPATH from another interpreter would shadow Debian's grpcio/protobuf.
        psi.Environment.Remove("PYTHONPATH");
        psi.Environment.Remove("PYTHONHOME");
        return psi;
    }

    private static (int Rc, string Output) Run(string exe, string[] args, TimeSpan timeout)
    {
        try
        {
            using var p = Process.Start(StartInfo(exe, args))!;
            p.StandardInput.Close();
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                return (-1, "timed out");
            }

            return (p.ExitCode, output.Result + error.Result);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return (-1, e.Message);
        }
    }

    private static string Tail(string s) => s.Length > 2000 ? s[^2000..] : s;

    private static string FindRepoRoot()
    {
        var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
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

        throw new InvalidOperationException("Cannot find the repository root (R2M.Grpc.sln) above " + AppContext.BaseDirectory);
    }
}

/// <summary>
/// The grpcio interop server (peers/interop_server.py) as a child process: prints its port, then one
/// JSON line per event (e.g. a handler that saw its call cancelled); stops when its stdin closes.
/// </summary>
internal sealed class PythonInteropServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly Task _pump;

    private PythonInteropServer(Process process, int port)
    {
        _process = process;
        Port = port;
        _pump = Task.Run(PumpAsync);
    }

    public int Port { get; }

    public string Target => $"127.0.0.1:{Port}";

    public static async Task<PythonInteropServer> StartAsync(string? extraArg = null)
    {
        Peers.RequirePython();
        var args = new List<string> { Path.Combine(Peers.PeersDir, "interop_server.py") };
        if (extraArg is not null)
        {
            args.Add(extraArg);
        }

        var process = Process.Start(Peers.StartInfo(Peers.Python, args))!;
        _ = process.StandardError.ReadToEndAsync(); // drained so the child never blocks on a full pipe
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.Contains("\"port\"", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"interop_server.py did not report a port (got '{line}').");
        }

        using var doc = JsonDocument.Parse(line!);
        return new PythonInteropServer(process, doc.RootElement.GetProperty("port").GetInt32());
    }

    /// <summary>Waits until an event line matching <paramref name="match"/> arrives.</summary>
    public async Task<bool> WaitForEventAsync(Func<JsonElement, bool> match, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (_events.Any(match))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    private async Task PumpAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith('{'))
            {
                using var doc = JsonDocument.Parse(line);
                _events.Enqueue(doc.RootElement.Clone());
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _pump.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        _process.Dispose();
    }
}
