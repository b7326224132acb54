using System.Diagnostics;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Tests;

/// <summary>
/// Kills a process at every step of a checkpoint save (tests/R2M.Server.CrashProbe: the server's
/// CheckpointDirectory, SIGKILL right after the step), then loads the name in a fresh process that
/// first cleans up as a restarting server does: it must get exactly the old or the new checkpoint,
/// both verified by their manifests and read back whole, and the folder holds only that version.
/// A SIGKILL keeps what the kernel already has; a power loss is not simulated (docs/server.md).
/// </summary>
public sealed class CheckpointCrashTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"r2m-crash-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>Every SaveStep, and "writing": killed halfway through writing the second file.</summary>
    public static TheoryData<string> CrashPoints => ["writing", .. Enum.GetNames<SaveStep>()];

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task Overwrite_KilledAtStep_NameLoadsOldOrNewAndKeepsWorking(string step)
    {
        Assert.Equal((0, "saved"), await ProbeAsync("save", _root, "run", "1", "none"));
        var (code, _) = await ProbeAsync("save", _root, "run", "2", step);
        Assert.Equal(137, code); // 128 + SIGKILL: it died at the step, it did not finish

        // The pointer decides: renamed over CURRENT at PointerReplaced.
        var expected = PointerMoved(step) ? "loaded 2" : "loaded 1";
        Assert.Equal((0, $"{expected}\nentries CURRENT,{(PointerMoved(step) ? "v-00000002" : "v-00000001")}"), await ProbeAsync("load", _root, "run"));

        Assert.Equal((0, "saved"), await ProbeAsync("save", _root, "run", "3", "none"));
        // A version that never became current was removed, so its number comes again.
        Assert.Equal((0, $"loaded 3\nentries CURRENT,{(PointerMoved(step) ? "v-00000003" : "v-00000002")}"), await ProbeAsync("load", _root, "run"));
    }

    [Theory]
    [MemberData(nameof(CrashPoints))]
    public async Task FirstSave_KilledAtStep_NameAbsentOrNew(string step)
    {
        var (code, _) = await ProbeAsync("save", _root, "run", "1", step);
        // Without an old version nothing is retired or deleted: that step never comes and the save finishes.
        Assert.Equal(step == nameof(SaveStep.OldPartlyDeleted) ? 0 : 137, code);

        var (loadCode, output) = await ProbeAsync("load", _root, "run");
        Assert.Equal(0, loadCode);
        // Once renamed to v-1 the version is complete; with no CURRENT yet the reader falls back to it.
        if (step is "writing" || Enum.Parse<SaveStep>(step) < SaveStep.VersionRenamed)
        {
            Assert.StartsWith("status NotFound: no checkpoint", output, StringComparison.Ordinal);
            Assert.EndsWith("\nentries", output, StringComparison.Ordinal);
        }
        else
        {
            var pointer = Enum.Parse<SaveStep>(step) >= SaveStep.PointerReplaced ? "CURRENT," : "";
            Assert.Equal($"loaded 1\nentries {pointer}v-00000001", output);
        }
    }

    private static bool PointerMoved(string step) => step != "writing" && Enum.Parse<SaveStep>(step) >= SaveStep.PointerReplaced;

    private static async Task<(int Code, string Output)> ProbeAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "R2M.Server.CrashProbe.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var output = (await stdout).Trim();
        Assert.True(p.ExitCode is 0 or 137, $"probe {string.Join(' ', args)} exited {p.ExitCode}: {output} {await stderr}");
        return (p.ExitCode, output);
    }
}
