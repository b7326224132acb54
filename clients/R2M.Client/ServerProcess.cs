using System.Diagnostics;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace R2M.Client;

/// <summary>How to start an r2m-server process.</summary>
public sealed record ServerLaunch
{
    /// <summary>r2m-server.dll (run with <c>dotnet</c>) or an executable.</summary>
    public required string ServerPath { get; init; }

    public required string PolicyPath { get; init; }

    public required string RewardModelPath { get; init; }

    /// <summary>TCP port on 127.0.0.1; 0 lets the OS pick a free one (read back from the server's log).</summary>
    public int Port { get; init; }

    public string? CheckpointRoot { get; init; }

    /// <summary>The server's API key, handed to the child through its environment (R2M__ApiKey), never its command line.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Further flags passed as they are (e.g. "--seed", "7").</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];

    /// <summary>How long model loading may take before the start counts as failed.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);
}

/// <summary>
/// An r2m-server child process on loopback. The bound port is taken from the server's
/// "r2m-server listening on http://..." log line (port 0 picks a free port without races); the
/// start completes once grpc.health.v1 reports SERVING (the models are loaded after binding).
/// Its output is kept (last lines) for error messages.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private const int KeptLines = 200;
    private readonly Process _process;
    private readonly Queue<string> _lines = new();
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<string> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServerProcess(Process process) => _process = process;

    /// <summary>"http://127.0.0.1:PORT".</summary>
    public string Address { get; private set; } = "";

    public int Port => new Uri(Address).Port;

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The server's last output lines.</summary>
    public string OutputTail
    {
        get
        {
            lock (_lock)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    public static async Task<ServerProcess> StartAsync(ServerLaunch launch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (!File.Exists(launch.ServerPath))
        {
            throw new FileNotFoundException($"r2m-server not found at {launch.ServerPath}; build it (dotnet build src/R2M.Server -c Release) or pass --server-exe", launch.ServerPath);
        }

        bool dll = launch.ServerPath.EndsWith(".dll", StringComparison.OrdinalIgnoreCase);
        var start = new ProcessStartInfo(dll ? "dotnet" : launch.ServerPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (dll)
        {
            start.ArgumentList.Add(launch.ServerPath);
        }

        void Arg(string flag, string? value)
        {
            if (value is not null)
            {
                start.ArgumentList.Add(flag);
                start.ArgumentList.Add(value);
            }
        }

        Arg("--policy", Path.GetFullPath(launch.PolicyPath));
        Arg("--reward-model", Path.GetFullPath(launch.RewardModelPath));
        Arg("--host", "127.0.0.1");
        Arg("--port", launch.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Arg("--checkpoint-root", launch.CheckpointRoot is null ? null : Path.GetFullPath(launch.CheckpointRoot));
        // The environment of a process is readable by its user only; its arguments by everyone (ps).
        if (launch.ApiKey is not null)
        {
            start.Environment["R2M__ApiKey"] = launch.ApiKey;
        }
        foreach (string a in launch.ExtraArgs)
        {
            start.ArgumentList.Add(a);
        }

        // Console logs on one line each, so the address line can be parsed.
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["DOTNET_gcServer"] = "0";

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        process.Exited += (_, _) => server._address.TrySetException(new InvalidOperationException(
            $"r2m-server exited with code {SafeExitCode(process)} before listening:\n{server.OutputTail}"));
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {start.FileName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(launch.StartTimeout);
            server.Address = await server._address.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            await server.WaitForServingAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            server.Kill();
            throw new TimeoutException($"r2m-server did not report SERVING within {launch.StartTimeout.TotalSeconds:F0} s:\n{server.OutputTail}");
        }
        catch
        {
            server.Kill();
            throw;
        }

        return server;
    }

    /// <summary>Polls grpc.health.v1 Check ("") until SERVING; fails when the process exits first.</summary>
    private async Task WaitForServingAsync(CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(Address);
        var health = new Health.HealthClient(channel);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"r2m-server exited with code {SafeExitCode(_process)} while loading its models:\n{OutputTail}");
            }

            try
            {
                var reply = await health.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: cancellationToken).ConfigureAwait(false);
                if (reply.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    return;
                }
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                // not answering yet
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Kills the process tree at once (a crash, as far as clients can tell).</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // never started or already gone
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _lines.Enqueue(line);
            if (_lines.Count > KeptLines)
            {
                _lines.Dequeue();
            }
        }

        if (ListeningLine().Match(line) is { Success: true } m)
        {
            _address.TrySetResult(m.Groups[1].Value.Replace("://localhost", "://127.0.0.1", StringComparison.Ordinal));
        }
    }

    private static string SafeExitCode(Process p)
    {
        try
        {
            return p.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    // ServerLog.Listening: "r2m-server listening on {Address}".
    [GeneratedRegex(@"r2m-server listening on (https?://[^\s]+)")]
    private static partial Regex ListeningLine();
}

/// <summary>Finds a built r2m-server when none is given.</summary>
public static class ServerLocator
{
    /// <summary>
    /// In order: <paramref name="explicitPath"/>, $R2M_SERVER, r2m-server.dll beside this program,
    /// then src/R2M.Server/bin/{Release,Debug}/net10.0/r2m-server.dll under the repository root
    /// (the folder with R2M.Grpc.sln above this program or the current directory).
    /// </summary>
    public static string Find(string? explicitPath = null)
    {
        var tried = new List<string>();
        foreach (string? candidate in Candidates(explicitPath))
        {
            if (candidate is null)
            {
                continue;
            }

            tried.Add(candidate);
            if (File.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }

            if (explicitPath is not null && candidate == explicitPath)
            {
                throw new FileNotFoundException($"--server-exe {explicitPath} does not exist", explicitPath);
            }
        }

        throw new FileNotFoundException("r2m-server not found; build it (dotnet build src/R2M.Server -c Release) or pass --server-exe. Looked at: " + string.Join(", ", tried));
    }

    private static IEnumerable<string?> Candidates(string? explicitPath)
    {
        yield return explicitPath;
        yield return Environment.GetEnvironmentVariable("R2M_SERVER") is { Length: > 0 } env ? env : null;
        yield return Path.Combine(AppContext.BaseDirectory, "r2m-server.dll");
        string config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        foreach (string? root in new[] { FindRoot(AppContext.BaseDirectory), FindRoot(Directory.GetCurrentDirectory()) }.Distinct())
        {
            if (root is null)
            {
                continue;
            }

            foreach (string c in new[] { config, config == "Release" ? "Debug" : "Release" })
            {
                yield return Path.Combine(root, "src", "R2M.Server", "bin", c, "net10.0", "r2m-server.dll");
            }
        }
    }

    /// <summary>The folder holding R2M.Grpc.sln at or above <paramref name="start"/>, or null.</summary>
    public static string? FindRoot(string start)
    {
        string? env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln")))
        {
            return env;
        }

        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
