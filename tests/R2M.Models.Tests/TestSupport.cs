using System.Diagnostics;
using System.Runtime.InteropServices;
using R2M.Models.Safetensors;

namespace R2M.Models.Tests;

/// <summary>Paths, the PyTorch peer and comparison helpers shared by the tests.</summary>
internal static class TestSupport
{
    public const string Python = "/usr/bin/python3";

    public static string RepoRoot
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
            if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln")))
                return env;
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "R2M.Grpc.sln")))
                    return d.FullName;
            throw new InvalidOperationException("cannot find the repository root (R2M.Grpc.sln) above " + AppContext.BaseDirectory);
        }
    }

    public static string PythonDir => Path.Combine(RepoRoot, "tests", "R2M.Models.Tests", "python");

    /// <summary>Runs a script with /usr/bin/python3; fails with a setup hint when the peer is absent.</summary>
    public static string RunPython(string script, params string[] args)
    {
        if (!File.Exists(Python))
            throw new InvalidOperationException($"{Python} not found: run scripts/setup.sh (installs python3-torch)");
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(PythonDir, script));
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(true);
            throw new TimeoutException($"{script} did not finish in 3 minutes");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{script} failed ({p.ExitCode}); if torch is missing run scripts/setup.sh.\n{stderr.Result}");
        return stdout.Result;
    }

    public static string NewTempDir(string tag)
    {
        var d = Path.Combine(Path.GetTempPath(), "r2m-models-" + tag + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    public static int[] ReadInts(SafetensorsFile f, string name)
    {
        var info = f.GetInfo(name);
        var bytes = f.Bytes(info);
        return info.Dtype == SafetensorsDtype.I64
            ? MemoryMarshal.Cast<byte, long>(bytes).ToArray().Select(x => (int)x).ToArray()
            : MemoryMarshal.Cast<byte, int>(bytes).ToArray();
    }

    /// <summary>max |a - b| / max |b| (the parity metric).</summary>
    public static double MaxRelError(ReadOnlySpan<float> ours, ReadOnlySpan<float> reference)
    {
        Assert.Equal(reference.Length, ours.Length);
        double maxDiff = 0, maxRef = 0;
        for (var i = 0; i < ours.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs((double)ours[i] - reference[i]));
            maxRef = Math.Max(maxRef, Math.Abs((double)reference[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }
}
