using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using R2M.Client.Tests;

namespace R2M.Api.Tests;

/// <summary>
/// A clone must stand on its own (issue 14): no tracked text file points at a file outside the
/// repository, and every relative link in the Markdown docs resolves to a tracked file.
/// </summary>
public sealed partial class RepositoryTextTests
{
    /// <summary>Files allowed to name an outside file, with the names each may use (none now).</summary>
    private static readonly Dictionary<string, string[]> PendingElsewhere = new(StringComparer.Ordinal);

    // Built from parts so that this file does not match its own patterns.
    private const string MethodSheet = "R2M-" + "METHOD.md";
    private const string ReferenceSheet = "REFERENCE" + ".md";

    /// <summary>Names of files and folders that live outside the repository on the machines it was written on.</summary>
    private static readonly string[] OutsideNames =
        [MethodSheet, ReferenceSheet, "DESIGN" + ".md", "../" + "shared", "/work" + "/", "shared/" + "R2M", "shared/" + "REF"];

    [Fact]
    public void TrackedTextFiles_ReferToNothingOutsideTheRepository()
    {
        string root = RealServer.RepoRoot();
        var problems = new List<string>();
        foreach (string path in TrackedFiles(root))
        {
            if (ReadText(Path.Combine(root, path)) is not { } text)
            {
                continue;
            }
            string[] tolerated = PendingElsewhere.GetValueOrDefault(path, []);
            problems.AddRange(OutsideReferences(path, text).Where(p => !tolerated.Contains(p.Name)).Select(p => p.ToString()));
        }
        Assert.True(problems.Count == 0, "references to files outside the repository:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void MarkdownLinks_ResolveToTrackedFiles()
    {
        string root = RealServer.RepoRoot();
        var tracked = TrackedFiles(root).ToHashSet(StringComparer.Ordinal);
        string[] docs = [.. tracked.Where(p => p.EndsWith(".md", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
        Assert.Contains("README.md", docs);
        Assert.Contains("docs/method.md", docs);
        var problems = new List<string>();
        int links = 0;
        foreach (string doc in docs)
        {
            foreach ((int line, string target) in RelativeLinks(File.ReadAllText(Path.Combine(root, doc))))
            {
                links++;
                if (Resolve(doc, target) is not { } resolved)
                {
                    problems.Add($"{doc}:{line}: link '{target}' leaves the repository");
                }
                else if (!tracked.Contains(resolved) && !tracked.Any(t => t.StartsWith(resolved + "/", StringComparison.Ordinal)))
                {
                    problems.Add($"{doc}:{line}: link '{target}' -> '{resolved}' is not a tracked file or folder");
                }
            }
        }
        Assert.True(problems.Count == 0, "broken links:\n" + string.Join('\n', problems));
        Assert.True(links >= 10, $"only {links} relative links found in {docs.Length} Markdown files: is the link pattern still right?");
    }

    [Fact]
    public void OutsideReferences_PlantedReferences_AreFound()
    {
        string text = $"ok line\nsee {MethodSheet} section 2\nfacts in ../{"shared"}/{ReferenceSheet}\nopen /work{"/"}x.txt\n";
        var found = OutsideReferences("x.cs", text).Select(p => (p.Line, p.Name)).ToArray();
        Assert.Contains((2, MethodSheet), found);
        Assert.Contains((3, ReferenceSheet), found);
        Assert.Contains((3, "../" + "shared"), found);
        Assert.Contains((4, "/work" + "/"), found);
        Assert.DoesNotContain(found, f => f.Line == 1);
    }

    [Fact]
    public void RelativeLinks_SkipsUrlsAnchorsAndCode_AndResolveRefusesEscapes()
    {
        string md = "[a](method.md) [b](https://x.org/y.md) [c](#anchor) `[d](nope.md)`\n```\n[e](fenced.md)\n```\n[f](../x/y.md#part \"t\")\n";
        Assert.Equal([(1, "method.md"), (5, "../x/y.md")], RelativeLinks(md));
        Assert.Equal("docs/method.md", Resolve("docs/specs.md", "method.md"));
        Assert.Equal("README.md", Resolve("docs/specs.md", "../README.md"));
        Assert.Null(Resolve("docs/specs.md", "../../outside.md"));
        Assert.Null(Resolve("README.md", "/etc/passwd"));
    }

    private readonly record struct Finding(string Path, int Line, string Name)
    {
        public override string ToString() => $"{Path}:{Line}: '{Name}'";
    }

    private static IEnumerable<Finding> OutsideReferences(string path, string text)
    {
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            foreach (string name in OutsideNames)
            {
                if (lines[i].Contains(name, StringComparison.OrdinalIgnoreCase))
                {
                    yield return new Finding(path, i + 1, name);
                }
            }
        }
    }

    /// <summary>(line, target) of every Markdown link that is not a URL or a same-page anchor, outside code.</summary>
    private static List<(int Line, string Target)> RelativeLinks(string markdown)
    {
        var links = new List<(int, string)>();
        bool fenced = false;
        string[] lines = markdown.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                fenced = !fenced;
                continue;
            }
            if (fenced)
            {
                continue;
            }
            string prose = InlineCode().Replace(lines[i], "");
            foreach (Match m in Link().Matches(prose))
            {
                string target = m.Groups["target"].Value;
                if (target.StartsWith('#') || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    continue;
                }
                int hash = target.IndexOf('#', StringComparison.Ordinal);
                links.Add((i + 1, hash < 0 ? target : target[..hash]));
            }
        }
        return links;
    }

    /// <summary>The repository-relative path a link in <paramref name="doc"/> points at, or null when it leaves the repository.</summary>
    private static string? Resolve(string doc, string target)
    {
        if (target.StartsWith('/'))
        {
            return null;
        }
        var parts = new List<string>(doc.Split('/')[..^1]);
        foreach (string part in Uri.UnescapeDataString(target).Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    return null;
                }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static List<string> TrackedFiles(string root)
    {
        var start = new ProcessStartInfo("git", ["-C", root, "ls-files", "-z"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process git = Process.Start(start) ?? throw new InvalidOperationException("git did not start");
        string output = git.StandardOutput.ReadToEnd();
        string error = git.StandardError.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git ls-files in {root} failed ({git.ExitCode}): {error}");
        var files = output.Split('\0', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.True(files.Count > 100, $"git ls-files listed only {files.Count} files in {root}");
        return files;
    }

    /// <summary>The file as UTF-8 text, or null for a binary file (a NUL byte) or one that was deleted but not yet committed.</summary>
    private static string? ReadText(string file)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        byte[] bytes = File.ReadAllBytes(file);
        return Array.IndexOf(bytes, (byte)0) >= 0 ? null : Encoding.UTF8.GetString(bytes);
    }

    [GeneratedRegex(@"`[^`]*`")]
    private static partial Regex InlineCode();

    [GeneratedRegex(@"\[[^\]]*\]\((?<target>[^)\s]+)(?:\s+""[^""]*"")?\)")]
    private static partial Regex Link();
}
