using System.Text;
using System.Text.RegularExpressions;
using Grpc.Core;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>
/// A checkpoint folder: the NAME folder that holds <c>CURRENT</c> and the version folders.
/// <paramref name="Root"/> is set when the folder must stay under the checkpoint root (names, and
/// paths while R2M:AllowArbitraryCheckpointPaths is false); null for paths the operator allowed anywhere.
/// </summary>
internal sealed record CheckpointLocation(string Directory, string? Root);

/// <summary>Names and paths of SaveCheckpoint/LoadCheckpoint (admin.proto): validation and root containment.</summary>
internal static partial class CheckpointPaths
{
    /// <summary>Longest checkpoint name; far below NAME_MAX (255 bytes), so a name is never refused by the file system.</summary>
    public const int MaxNameLength = 128;

    private const int MaxComponentBytes = 255; // NAME_MAX (Linux, POSIX.1 limits.h)
    private const int MaxPathBytes = 4095;     // PATH_MAX 4096 including the terminating NUL

    /// <summary>A leading '.' is refused: names starting with it are the store's own temporary entries.</summary>
    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]*$")]
    private static partial Regex NamePattern();

    /// <summary>The folder of a request's name (under the root) or path (absolute, or relative to the root).</summary>
    public static CheckpointLocation Resolve(string root, bool allowArbitraryPaths, string name, string path)
    {
        var hasName = !string.IsNullOrEmpty(name);
        var hasPath = !string.IsNullOrEmpty(path);
        if (hasName == hasPath) throw new InvalidInputException("give exactly one of name and path");
        var fullRoot = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        CheckpointLocation at;
        if (hasName)
        {
            ValidateName(name);
            at = new CheckpointLocation(Path.Combine(fullRoot, name), fullRoot);
        }
        else
        {
            ValidatePath(path);
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(fullRoot, path)));
            if (full == fullRoot) throw new InvalidInputException($"path '{path}' is the checkpoint root itself; give a folder under it");
            var under = full.StartsWith(fullRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            if (!under && !allowArbitraryPaths)
            {
                throw new CheckpointAccessException(StatusCode.PermissionDenied, $"path '{path}' resolves to '{full}', outside the checkpoint root '{fullRoot}' (R2M:AllowArbitraryCheckpointPaths is false)");
            }

            at = new CheckpointLocation(full, under && !allowArbitraryPaths ? fullRoot : null);
        }

        EnsureContained(at);
        return at;
    }

    public static void ValidateName(string name)
    {
        if (name.Length > MaxNameLength) throw new InvalidInputException($"checkpoint name has {name.Length} characters, at most {MaxNameLength}");
        if (!NamePattern().IsMatch(name))
        {
            throw new InvalidInputException($"checkpoint name '{name}' has characters outside [A-Za-z0-9._-] or starts with '.'");
        }
    }

    private static void ValidatePath(string path)
    {
        if (path.Contains('\0', StringComparison.Ordinal)) throw new InvalidInputException("checkpoint path contains a NUL character");
        var bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes > MaxPathBytes) throw new InvalidInputException($"checkpoint path has {bytes} bytes, at most {MaxPathBytes}");
        foreach (var part in path.Split(Path.DirectorySeparatorChar))
        {
            var n = Encoding.UTF8.GetByteCount(part);
            if (n > MaxComponentBytes) throw new InvalidInputException($"a component of the checkpoint path has {n} bytes, at most {MaxComponentBytes}");
        }
    }

    /// <summary>
    /// A contained folder's every existing component below the root must be a real folder: a
    /// symbolic link (FileSystemInfo.LinkTarget, dangling ones included) could point anywhere, so
    /// it is refused (PERMISSION_DENIED), and so is a path through another checkpoint's folder
    /// (FAILED_PRECONDITION: overwriting that checkpoint would delete this one). The root itself
    /// may be a link: the operator chose it. Checked again right before every save and load.
    /// </summary>
    public static void EnsureContained(CheckpointLocation at)
    {
        if (at.Root is not { } root) return;
        var parts = Path.GetRelativePath(root, at.Directory).Split(Path.DirectorySeparatorChar);
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            current = Path.Combine(current, parts[i]);
            if (new FileInfo(current).LinkTarget is { } target)
            {
                throw new CheckpointAccessException(StatusCode.PermissionDenied,
                    $"'{current}' is a symbolic link (to '{target}'): checkpoints under the root '{root}' may not pass through links");
            }

            if (File.Exists(current)) throw new PreconditionException($"'{current}' is a file, not a folder");
            if (!Directory.Exists(current)) return;
            if (i < parts.Length - 1 && CheckpointLayout.IsCheckpointFolder(current))
            {
                throw new PreconditionException($"'{current}' is a checkpoint folder; a checkpoint path cannot lead into it (nested checkpoints would be deleted with it)");
            }
        }
    }
}
