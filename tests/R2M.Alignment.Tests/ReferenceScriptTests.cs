using System.Diagnostics;
using System.Text.Json;

namespace R2M.Alignment.Tests;

/// <summary>
/// The committed reference.json must be what make_reference.py produces with Debian's PyTorch:
/// reruns the script into a temp file and compares every number (float64 autograd; 1e-12 relative
/// leaves room for a different BLAS summation order on another CPU, nothing more).
/// </summary>
public sealed class ReferenceScriptTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task MakeReference_RerunWithTorch_ReproducesCommittedJson()
    {
        if (!File.Exists(Python))
            Assert.Fail($"{Python} (Debian python3 with python3-torch) is missing: run scripts/setup.sh");
        using var dir = new TempDir();
        string script = Path.Combine(TestSupport.RepoRoot(), "tests", "R2M.Alignment.Tests", "python", "make_reference.py");
        string output = dir.File("reference.json");
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(output);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("make_reference.py did not finish within 120 s");
        }
        string err = await stderr;
        await stdout;
        if (err.Contains("No module named 'torch'", StringComparison.Ordinal))
            Assert.Fail($"{Python} has no torch: run scripts/setup.sh (installs python3-torch)");
        Assert.True(process.ExitCode == 0, $"make_reference.py exited {process.ExitCode}: {err}");
        using var fresh = JsonDocument.Parse(File.ReadAllText(output));
        Same(TestSupport.Reference, fresh.RootElement, "$");
    }

    private static void Same(JsonElement committed, JsonElement fresh, string path)
    {
        Assert.True(committed.ValueKind == fresh.ValueKind, $"{path}: {committed.ValueKind} vs {fresh.ValueKind}");
        switch (committed.ValueKind)
        {
            case JsonValueKind.Object:
                var names = committed.EnumerateObject().Select(p => p.Name).ToList();
                Assert.Equal(names, fresh.EnumerateObject().Select(p => p.Name).ToList());
                foreach (var n in names) Same(committed.GetProperty(n), fresh.GetProperty(n), $"{path}.{n}");
                break;
            case JsonValueKind.Array:
                Assert.True(committed.GetArrayLength() == fresh.GetArrayLength(), $"{path}: length {committed.GetArrayLength()} vs {fresh.GetArrayLength()}");
                int i = 0;
                foreach (var (a, b) in committed.EnumerateArray().Zip(fresh.EnumerateArray())) Same(a, b, $"{path}[{i++}]");
                break;
            case JsonValueKind.Number:
                double x = committed.GetDouble(), y = fresh.GetDouble();
                Assert.True(Math.Abs(x - y) <= 1e-12 * Math.Max(1, Math.Abs(x)), $"{path}: committed {x:R}, script now gives {y:R}");
                break;
            default:
                Assert.Equal(committed.GetRawText(), fresh.GetRawText());
                break;
        }
    }
}
