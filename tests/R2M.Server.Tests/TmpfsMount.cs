using System.Diagnostics;

namespace R2M.Server.Tests;

/// <summary>
/// A small tmpfs for the disk-full and read-only cases: real ENOSPC and EROFS from the kernel. It
/// needs mount privileges (CI runs as root); where <c>mount -t tmpfs</c> fails the test is skipped
/// with the reason, never passed.
/// </summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> on <paramref name="dir"/> (created if missing); skips the test when mounting is not allowed.</summary>
    public static TmpfsMount MountOrSkip(string dir, long bytes)
    {
        Directory.CreateDirectory(dir);
        var (rc, output) = Run("mount", "-t", "tmpfs", "-o", $"size={bytes},mode=0755", "r2m-test", dir);
        Skip.If(rc != 0, $"mount -t tmpfs failed here (exit {rc}: {output.Trim()}); this disk-full/read-only case needs mount privileges and is skipped");
        return new TmpfsMount(dir);
    }

    public void RemountReadOnly()
    {
        var (rc, output) = Run("mount", "-o", "remount,ro", Path);
        Assert.True(rc == 0, $"remount read-only failed: {output}");
    }

    public void Dispose()
    {
        if (Run("umount", Path).ExitCode != 0) Run("umount", "-l", Path);
    }

    private static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
