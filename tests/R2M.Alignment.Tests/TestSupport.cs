using System.Text.Json;

namespace R2M.Alignment.Tests;

internal static class TestSupport
{
    public static string RepoRoot()
    {
        var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln"))) return env;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find R2M.Grpc.sln above " + AppContext.BaseDirectory);
    }

    private static readonly Lazy<JsonElement> s_reference = new(() =>
    {
        var path = Path.Combine(RepoRoot(), "tests", "R2M.Alignment.Tests", "python", "reference.json");
        if (!File.Exists(path))
            throw new FileNotFoundException("PyTorch reference missing: run /usr/bin/python3 tests/R2M.Alignment.Tests/python/make_reference.py", path);
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement;
    });

    public static JsonElement Reference => s_reference.Value;

    public static float[] F(this JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
    public static double[] D(this JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetDouble()).ToArray();
    public static bool[] B(this JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetBoolean()).ToArray();
    public static int I(this JsonElement e, string name) => e.GetProperty(name).GetInt32();
    public static double N(this JsonElement e, string name) => e.GetProperty(name).GetDouble();

    /// <summary>
    /// Relative agreement to tol: |a - e| &lt;= tol * max(|e|, floor), with floor = 1e-2 * max|expected|
    /// so that near-zero entries of a vector are judged against the vector's scale.
    /// </summary>
    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tol, string what)
    {
        Assert.True(actual.Length == expected.Length, $"{what}: length {actual.Length} vs {expected.Length}");
        double scale = 0;
        foreach (var v in expected) scale = Math.Max(scale, Math.Abs(v));
        double floor = Math.Max(1e-2 * scale, 1e-12);
        for (int i = 0; i < actual.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            Assert.True(err <= tol * Math.Max(Math.Abs(expected[i]), floor),
                $"{what}[{i}]: got {actual[i]:R}, expected {expected[i]:R} (rel err {err / Math.Max(Math.Abs(expected[i]), floor):E2})");
        }
    }

    public static void Close(double actual, double expected, double tol, string what) =>
        Close([(float)actual], [expected], tol, what);
}

/// <summary>A fresh temporary folder, deleted on Dispose.</summary>
internal sealed class TempDir : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("r2m-align-");

    public string Root => _dir.FullName;

    public string File(string name) => Path.Combine(_dir.FullName, name);

    public void Dispose() => _dir.Delete(recursive: true);
}
