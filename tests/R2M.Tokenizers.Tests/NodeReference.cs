using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace R2M.Tokenizers.Tests;

/// <summary>Runs js/reference.js once for a whole batch of strings.</summary>
internal static class NodeReference
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(3);

    public static int[][] Encode(string tokenizer, IReadOnlyList<string> texts)
    {
        var dir = Directory.CreateTempSubdirectory("r2m-tok-");
        try
        {
            var input = Path.Combine(dir.FullName, "in.json");
            var output = Path.Combine(dir.FullName, "out.json");
            File.WriteAllText(input, ToJsonArray(texts), Encoding.ASCII);
            Run(["encode", tokenizer, input, output]);
            return JsonSerializer.Deserialize<int[][]>(File.ReadAllText(output))!;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    public static string Run(IEnumerable<string> args)
    {
        Assert.True(Directory.Exists(Path.Combine(TestPaths.NodeModules, "@lenml", "tokenizers")),
            "npm peer @lenml/tokenizers missing: run `bash scripts/setup.sh`");
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(TestPaths.ReferenceScript);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["R2M_REPO_ROOT"] = TestPaths.RepoRoot;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start node");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(s_timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("node reference timed out");
        }
        Assert.True(p.ExitCode == 0, $"node reference failed ({p.ExitCode}): {stderr.Result}");
        return stdout.Result;
    }

    /// <summary>
    /// JSON array of strings with every non-ASCII UTF-16 unit escaped as \uXXXX, so lone surrogates
    /// survive the trip to node (System.Text.Json refuses to write them).
    /// </summary>
    public static string ToJsonArray(IReadOnlyList<string> texts)
    {
        var sb = new StringBuilder();
        sb.Append('[');
        for (var i = 0; i < texts.Count; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append('"');
            foreach (var c in texts[i])
            {
                if (c is >= ' ' and < (char)0x7F && c != '"' && c != '\\') sb.Append(c);
                else sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            sb.Append('"');
        }
        return sb.Append(']').ToString();
    }
}
