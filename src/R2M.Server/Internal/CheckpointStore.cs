using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>
/// Checkpoint directories: <c>state.safetensors</c> (what <see cref="CheckpointContent"/> captures: the
/// served snapshot) and <c>client_state.bin</c>. Written into a temporary sibling directory and renamed into place, so a
/// reader never sees a half-written checkpoint.
/// </summary>
internal static partial class CheckpointStore
{
    private const string StateFile = "state.safetensors";
    private const string ClientFile = "client_state.bin";
    private const int MaxClientState = 16 * 1024 * 1024;

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NamePattern();

    /// <summary>The absolute directory of a name (under the root) or a path (admin.proto SaveCheckpointRequest).</summary>
    public static string Resolve(R2MServerOptions o, string name, string path)
    {
        var hasName = !string.IsNullOrEmpty(name);
        var hasPath = !string.IsNullOrEmpty(path);
        if (hasName == hasPath) throw new InvalidInputException("give exactly one of name and path");
        var root = Path.GetFullPath(o.CheckpointRoot);
        if (hasName)
        {
            if (!NamePattern().IsMatch(name) || name is "." or "..") throw new InvalidInputException($"name '{name}' has characters outside [A-Za-z0-9._-] (or is . or ..)");
            return Path.Combine(root, name);
        }

        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(root, path));
        if (!o.AllowArbitraryCheckpointPaths && !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new CheckpointAccessException(StatusCode.PermissionDenied, $"path '{path}' resolves to '{full}', outside the checkpoint root '{root}' (R2M:AllowArbitraryCheckpointPaths is false)");
        }

        return full;
    }

    /// <summary>Writes the checkpoint. The caller holds the admin gate (no training runs meanwhile).</summary>
    public static long Save(CheckpointContent content, string dir, ByteString clientState)
    {
        if (clientState.Length > MaxClientState) throw new InvalidInputException($"client_state has {clientState.Length} bytes, above 16 MiB");
        var parent = Path.GetDirectoryName(dir)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(dir)}.tmp-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(tmp);
            var cs = content.Capture();
            cs.Save(Path.Combine(tmp, StateFile));
            File.WriteAllBytes(Path.Combine(tmp, ClientFile), clientState.ToByteArray());
            var bytes = Directory.EnumerateFiles(tmp, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            if (Directory.Exists(dir))
            {
                var old = dir + $".old-{Guid.NewGuid():N}";
                Directory.Move(dir, old);
                Directory.Move(tmp, dir);
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(tmp, dir);
            }

            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw new CheckpointAccessException(StatusCode.Internal, $"writing checkpoint '{dir}' failed: {e.Message}");
        }
    }

    /// <summary>
    /// Loads and swaps in a checkpoint; everything is validated before anything is replaced. The caller
    /// holds the admin gate. Versions only grow: the loaded ones, or the current ones + 1 when larger.
    /// </summary>
    public static (long Bytes, ByteString ClientState, Schedule? Schedule) Load(CheckpointContent content, string dir, bool rewardOnly)
    {
        var statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}' ({StateFile} missing)");
        CheckpointState cs;
        try
        {
            cs = CheckpointState.Load(statePath);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or System.Text.Json.JsonException or Models.Safetensors.SafetensorsException)
        {
            throw new CheckpointAccessException(StatusCode.DataLoss, $"'{statePath}' is not a readable checkpoint: {e.Message}");
        }

        var (apply, schedule) = content.Prepare(cs, statePath, rewardOnly);
        apply();
        var clientPath = Path.Combine(dir, ClientFile);
        var client = File.Exists(clientPath) ? ByteString.CopyFrom(File.ReadAllBytes(clientPath)) : ByteString.Empty;
        var bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(x => new FileInfo(x).Length);
        return (bytes, client, schedule);
    }
}
