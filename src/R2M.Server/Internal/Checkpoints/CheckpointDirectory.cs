using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>A finished save: the checkpoint folder, its new version folder, and the bytes of the files written.</summary>
internal sealed record SavedCheckpoint(string Directory, string VersionDirectory, long Bytes);

/// <summary>A verified version folder: every file of its manifest has its size and SHA-256.</summary>
internal sealed class OpenedCheckpoint(string versionDirectory, CheckpointManifest manifest)
{
    public string VersionDirectory { get; } = versionDirectory;

    /// <summary>Bytes of the files the manifest lists.</summary>
    public long Bytes { get; } = manifest.Bytes;

    /// <summary>The path of a file the manifest lists; DATA_LOSS when it does not list it.</summary>
    public string PathOf(string file) => TryPathOf(file)
        ?? throw new CheckpointAccessException(StatusCode.DataLoss, $"'{VersionDirectory}' has no '{file}' in its manifest");

    public string? TryPathOf(string file) => manifest.Files.ContainsKey(file) ? Path.Combine(VersionDirectory, file) : null;
}

/// <summary>
/// Checkpoint folders under the checkpoint root (docs/server.md, "Checkpoints on disk"): name
/// validation and root containment, the atomic overwrite (version folders and a <c>CURRENT</c>
/// pointer replaced by rename, each step fsynced), manifest verification on load, and the removal of
/// what unfinished saves left. The admin gate serializes saves and loads; one server owns a root.
/// </summary>
internal sealed class CheckpointDirectory
{
    private const int MaxCleanupDepth = 8;

    private readonly bool _allowArbitraryPaths;
    private readonly ILogger _logger;
    private readonly Action<SaveStep>? _hook;

    public CheckpointDirectory(R2MServerOptions options, ILogger<CheckpointDirectory> logger)
        : this(options.CheckpointRoot, options.AllowArbitraryCheckpointPaths, logger, hook: null)
    {
    }

    /// <param name="hook">Runs after each <see cref="SaveStep"/> (tests: inject a fault, or kill the process).</param>
    internal CheckpointDirectory(string root, bool allowArbitraryPaths, ILogger logger, Action<SaveStep>? hook)
    {
        Root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _allowArbitraryPaths = allowArbitraryPaths;
        _logger = logger;
        _hook = hook;
    }

    public string Root { get; }

    /// <summary>The folder of a request's name or path (admin.proto SaveCheckpointRequest).</summary>
    public CheckpointLocation Resolve(string name, string path) => CheckpointPaths.Resolve(Root, _allowArbitraryPaths, name, path);

    /// <summary>R2M:ResumeFrom: an existing directory (the operator's choice, anywhere), else a name under the root.</summary>
    public CheckpointLocation ResolveResume(string nameOrDirectory) => Directory.Exists(nameOrDirectory)
        ? new CheckpointLocation(Path.TrimEndingDirectorySeparator(Path.GetFullPath(nameOrDirectory)), Root: null)
        : Resolve(nameOrDirectory, "");

    /// <summary>
    /// Writes a new version of the checkpoint: <paramref name="writeFiles"/> fills a temporary folder
    /// with plain files; then manifest, rename to <c>v-N</c>, pointer, each fsynced. On failure
    /// before the pointer moved nothing of this save is left and the old version stays current.
    /// </summary>
    public SavedCheckpoint Save(CheckpointLocation at, Action<string> writeFiles)
    {
        var dir = at.Directory;
        string? temp = null, pointerTemp = null, version = null;
        var replaced = false;
        try
        {
            CheckpointPaths.EnsureContained(at);
            CreateFolder(dir);
            RefuseForeignEntries(dir);
            RemoveLeftovers(dir);
            Step(SaveStep.FolderReady);
            var name = CheckpointLayout.VersionName(NextNumber(dir));
            temp = Path.Combine(dir, CheckpointLayout.TempPrefix + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(temp);
            Step(SaveStep.TempCreated);
            writeFiles(temp);
            Step(SaveStep.FilesWritten);
            var manifest = CheckpointManifest.Describe(temp);
            Step(SaveStep.FilesSynced);
            manifest.Write(temp);
            DurableFiles.Sync(temp);
            Step(SaveStep.ManifestWritten);
            var target = Path.Combine(dir, name);
            Directory.Move(temp, target);
            (version, temp) = (target, null);
            Step(SaveStep.VersionRenamed);
            DurableFiles.Sync(dir);
            Step(SaveStep.VersionDurable);
            pointerTemp = Path.Combine(dir, CheckpointLayout.PointerTempPrefix + Guid.NewGuid().ToString("N"));
            DurableFiles.WriteNew(pointerTemp, CheckpointLayout.PointerBytes(name));
            Step(SaveStep.PointerWritten);
            // rename(2) replaces CURRENT atomically: a reader sees the old name or the new one, never neither.
            File.Move(pointerTemp, Path.Combine(dir, CheckpointLayout.PointerFile), overwrite: true);
            (pointerTemp, replaced) = (null, true);
            Step(SaveStep.PointerReplaced);
            DurableFiles.Sync(dir);
            Step(SaveStep.PointerDurable);
            RetireOthers(dir, name);
            return new SavedCheckpoint(dir, version, manifest.Bytes);
        }
        catch (Exception e)
        {
            if (!replaced)
            {
                Discard(temp);
                Discard(pointerTemp);
                Discard(version);
            }

            if (CheckpointFailures.ForWrite(e, dir, replaced) is { } failure) throw failure;
            throw;
        }
    }

    /// <summary>
    /// The verified version folder a checkpoint folder loads: the one <c>CURRENT</c> names; without a
    /// usable pointer (none, or naming a missing folder) the newest version folder. A folder holding
    /// a manifest is itself one version (a version folder copied elsewhere loads by path).
    /// </summary>
    public OpenedCheckpoint Open(CheckpointLocation at)
    {
        var dir = at.Directory;
        try
        {
            CheckpointPaths.EnsureContained(at);
            if (!Directory.Exists(dir)) throw new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}'");
            if (File.Exists(Path.Combine(dir, CheckpointLayout.ManifestFile))) return Verified(dir);
            var pointer = CheckpointLayout.ReadPointer(dir);
            if (pointer.Version is { } current) return Verified(Path.Combine(dir, current));
            var versions = CheckpointLayout.Versions(dir);
            if (versions.Count == 0)
            {
                var foreign = new DirectoryInfo(dir).EnumerateFileSystemInfos().FirstOrDefault(e => !CheckpointLayout.IsOwnEntry(e));
                throw foreign is null
                    ? new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}' ({pointer.Problem}, no version folder)")
                    : new PreconditionException($"'{dir}' holds '{foreign.Name}' but no {CheckpointLayout.PointerFile} or version folder: not a checkpoint, or one written before the versioned layout");
            }

            var newest = versions[^1].Name;
            CheckpointLog.FellBack(_logger, dir, pointer.Problem!, newest);
            return Verified(Path.Combine(dir, newest));
        }
        catch (Exception e) when (CheckpointFailures.ForRead(e, dir) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>
    /// Start-up: removes what unfinished saves left in every checkpoint folder under the root
    /// (temporary folders and pointers, retired versions, versions <c>CURRENT</c> does not name).
    /// Failures are logged, never fatal: a read-only root still serves its checkpoints.
    /// </summary>
    public int CleanUp()
    {
        var removed = 0;
        foreach (var dir in CheckpointFolders(Root, 0))
        {
            try
            {
                removed += RemoveLeftovers(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CheckpointAccessException)
            {
                CheckpointLog.CleanupFailed(_logger, dir, e.Message);
            }
        }

        if (removed > 0) CheckpointLog.CleanedUp(_logger, Root, removed);
        return removed;
    }

    private static OpenedCheckpoint Verified(string versionDir)
    {
        if (new DirectoryInfo(versionDir).LinkTarget is not null)
        {
            throw new CheckpointAccessException(StatusCode.PermissionDenied, $"'{versionDir}' is a symbolic link; checkpoint folders may not be links");
        }

        return new OpenedCheckpoint(versionDir, CheckpointManifest.ReadVerified(versionDir));
    }

    private void Step(SaveStep step) => _hook?.Invoke(step);

    /// <summary>Creates the missing folders down to <paramref name="dir"/>, fsyncing each parent so the new entry is durable.</summary>
    private static void CreateFolder(string dir)
    {
        if (Directory.Exists(dir)) return;
        var parent = Path.GetDirectoryName(dir)!;
        CreateFolder(parent);
        Directory.CreateDirectory(dir);
        DurableFiles.Sync(parent);
    }

    /// <summary>A save writes into a new folder or one it wrote before, so it never deletes what it did not write.</summary>
    private static void RefuseForeignEntries(string dir)
    {
        var foreign = new DirectoryInfo(dir).EnumerateFileSystemInfos().FirstOrDefault(e => !CheckpointLayout.IsOwnEntry(e));
        if (foreign is not null)
        {
            throw new PreconditionException($"'{dir}' holds '{foreign.Name}', which is not part of a checkpoint: SaveCheckpoint writes only into a new folder or a checkpoint folder it wrote");
        }
    }

    private static long NextNumber(string dir)
    {
        var versions = CheckpointLayout.Versions(dir);
        return versions.Count == 0 ? 1 : versions[^1].Number + 1;
    }

    /// <summary>Retires (renames away, then deletes) every version but <paramref name="keep"/>; failures are logged, the save stands.</summary>
    private void RetireOthers(string dir, string keep)
    {
        try
        {
            var retired = CheckpointLayout.Versions(dir).Where(v => v.Name != keep).Select(v => Retire(dir, v.Name)).ToList();
            Step(SaveStep.OldRetired);
            foreach (var r in retired) DurableFiles.DeleteTree(r, () => Step(SaveStep.OldPartlyDeleted));
            Step(SaveStep.Done);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CheckpointLog.CleanupFailed(_logger, dir, e.Message);
        }
    }

    /// <summary>Renames a version folder to <c>.old-ID</c> first, so a partly deleted version never carries a version name.</summary>
    private static string Retire(string dir, string version)
    {
        var retired = Path.Combine(dir, $"{CheckpointLayout.RetiredPrefix}{version}-{Guid.NewGuid():N}");
        Directory.Move(Path.Combine(dir, version), retired);
        return retired;
    }

    private int RemoveLeftovers(string dir)
    {
        var current = CheckpointLayout.ReadPointer(dir).Version;
        var removed = 0;
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos().ToList())
        {
            if (!CheckpointLayout.IsOwnEntry(entry) || LeftoverReason(entry, current) is not { } reason) continue;
            var path = entry is DirectoryInfo && CheckpointLayout.TryParseVersion(entry.Name, out _) ? Retire(dir, entry.Name) : entry.FullName;
            if (entry is DirectoryInfo) DurableFiles.DeleteTree(path);
            else File.Delete(path);
            CheckpointLog.Removed(_logger, entry.FullName, reason);
            removed++;
        }

        return removed;
    }

    /// <summary>Why an entry of a checkpoint folder is a leftover; null when it is part of the checkpoint.</summary>
    private static string? LeftoverReason(FileSystemInfo entry, string? current)
    {
        var name = entry.Name;
        if (name.StartsWith(CheckpointLayout.TempPrefix, StringComparison.Ordinal)) return "an unfinished save";
        if (name.StartsWith(CheckpointLayout.PointerTempPrefix, StringComparison.Ordinal)) return "an unfinished pointer update";
        if (name.StartsWith(CheckpointLayout.RetiredPrefix, StringComparison.Ordinal)) return "a replaced version";
        // Without a usable pointer every version stays: the reader falls back to the newest.
        return current is not null && name != CheckpointLayout.PointerFile && name != current ? $"a version {CheckpointLayout.PointerFile} does not name" : null;
    }

    /// <summary>Checkpoint folders under <paramref name="dir"/>, not following links, not looking inside checkpoint folders.</summary>
    private IEnumerable<string> CheckpointFolders(string dir, int depth)
    {
        List<(string Path, bool IsCheckpoint)> children;
        try
        {
            children = Directory.Exists(dir)
                ? [.. new DirectoryInfo(dir).EnumerateDirectories().Where(d => d.LinkTarget is null).Select(d => (d.FullName, CheckpointLayout.IsCheckpointFolder(d.FullName)))]
                : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CheckpointLog.CleanupFailed(_logger, dir, e.Message);
            yield break;
        }

        foreach (var (path, isCheckpoint) in children)
        {
            if (isCheckpoint) yield return path;
            else if (depth < MaxCleanupDepth)
            {
                foreach (var nested in CheckpointFolders(path, depth + 1)) yield return nested;
            }
        }
    }

    /// <summary>Best-effort removal of what a failed save created; what stays is removed at the next save or start-up.</summary>
    private void Discard(string? path)
    {
        if (path is null) return;
        try
        {
            if (Directory.Exists(path)) DurableFiles.DeleteTree(path);
            else if (File.Exists(path)) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CheckpointLog.CleanupFailed(_logger, path, e.Message);
        }
    }
}
