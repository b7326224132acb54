using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>What <c>CURRENT</c> says: the version folder it names (null when it names none), and why not.</summary>
internal readonly record struct Pointer(string? Version, string? Problem);

/// <summary>
/// The entries of a checkpoint folder (docs/server.md, "Checkpoints on disk"): <c>CURRENT</c> (the
/// name of the live version folder), version folders <c>v-NNNNNNNN</c> (each complete, with its
/// <c>manifest.json</c>), and the leftovers of unfinished saves: <c>.tmp-ID</c> folders,
/// <c>.CURRENT.tmp-ID</c> files and <c>.old-ID</c> folders (versions being deleted).
/// </summary>
internal static partial class CheckpointLayout
{
    public const string PointerFile = "CURRENT";
    public const string ManifestFile = "manifest.json";
    public const string TempPrefix = ".tmp-";
    public const string PointerTempPrefix = ".CURRENT.tmp-";
    public const string RetiredPrefix = ".old-";
    private const int MaxPointerBytes = 64;

    [GeneratedRegex("^v-([0-9]{1,18})$")]
    private static partial Regex VersionPattern();

    public static string VersionName(long number) => string.Create(CultureInfo.InvariantCulture, $"v-{number:D8}");

    public static bool TryParseVersion(string name, out long number)
    {
        var m = VersionPattern().Match(name);
        number = m.Success ? long.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture) : 0;
        return m.Success;
    }

    public static byte[] PointerBytes(string version) => Encoding.ASCII.GetBytes(version + "\n");

    /// <summary>The version folders of <paramref name="dir"/>, oldest (lowest number) first.</summary>
    public static List<(string Name, long Number)> Versions(string dir)
    {
        var list = new List<(string Name, long Number)>();
        foreach (var d in new DirectoryInfo(dir).EnumerateDirectories())
        {
            if (TryParseVersion(d.Name, out var n)) list.Add((d.Name, n));
        }

        list.Sort((a, b) => a.Number.CompareTo(b.Number));
        return list;
    }

    /// <summary>Reads <c>CURRENT</c>: the version folder it names if that folder exists; a link is refused.</summary>
    public static Pointer ReadPointer(string dir)
    {
        var path = Path.Combine(dir, PointerFile);
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) throw new CheckpointAccessException(StatusCode.PermissionDenied, $"'{path}' is a symbolic link; checkpoint files may not be links");
        if (!info.Exists) return new Pointer(null, $"no {PointerFile}");
        if (info.Length > MaxPointerBytes) return new Pointer(null, $"{PointerFile} holds {info.Length} bytes, not a version name");
        var text = File.ReadAllText(path, Encoding.ASCII).Trim();
        if (!TryParseVersion(text, out _)) return new Pointer(null, $"{PointerFile} holds '{text}', not a version name");
        return Directory.Exists(Path.Combine(dir, text)) ? new Pointer(text, null) : new Pointer(null, $"{PointerFile} names '{text}', which is missing");
    }

    /// <summary>Entries the store writes into a checkpoint folder; anything else is foreign (links always are).</summary>
    public static bool IsOwnEntry(FileSystemInfo entry)
    {
        if (entry.LinkTarget is not null) return false;
        var name = entry.Name;
        return entry is DirectoryInfo
            ? TryParseVersion(name, out _) || name.StartsWith(TempPrefix, StringComparison.Ordinal) || name.StartsWith(RetiredPrefix, StringComparison.Ordinal)
            : name == PointerFile || name.StartsWith(PointerTempPrefix, StringComparison.Ordinal);
    }

    /// <summary>A folder holding a pointer, a manifest (a version folder) or any entry of an unfinished save.</summary>
    public static bool IsCheckpointFolder(string dir) =>
        File.Exists(Path.Combine(dir, ManifestFile)) || new DirectoryInfo(dir).EnumerateFileSystemInfos().Any(IsOwnEntry);
}
