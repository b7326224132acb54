using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Grpc.Core;

namespace R2M.Server.Internal.Checkpoints;

/// <summary>One file of a version folder: its size and SHA-256 (FIPS 180-4), lowercase hex.</summary>
internal sealed record ManifestEntry(long Bytes, string Sha256);

/// <summary>
/// <c>manifest.json</c> of a version folder: every other file with its size and SHA-256. Written
/// last, after the files are fsynced and before the folder gets its version name, so a version
/// folder without a valid manifest was never completed; checked on every load, so a flipped bit is
/// DATA_LOSS naming the file rather than weights loaded silently.
/// </summary>
internal sealed record CheckpointManifest(string Format, SortedDictionary<string, ManifestEntry> Files)
{
    public const string FormatName = "r2m-checkpoint-manifest/1";
    private const long MaxManifestBytes = 1 << 20;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public long Bytes => Files.Values.Sum(f => f.Bytes);

    /// <summary>Fsyncs and hashes every file of a folder the caller just wrote (plain files only).</summary>
    public static CheckpointManifest Describe(string dir)
    {
        var files = new SortedDictionary<string, ManifestEntry>(StringComparer.Ordinal);
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry is not FileInfo file || entry.LinkTarget is not null || entry.Name == CheckpointLayout.ManifestFile)
            {
                throw new InvalidOperationException($"'{entry.FullName}': a checkpoint holds plain files only, and not its own {CheckpointLayout.ManifestFile}");
            }

            DurableFiles.Sync(file.FullName);
            files[file.Name] = new ManifestEntry(file.Length, Hash(file.FullName));
        }

        return new CheckpointManifest(FormatName, files);
    }

    public void Write(string dir) =>
        DurableFiles.WriteNew(Path.Combine(dir, CheckpointLayout.ManifestFile), JsonSerializer.SerializeToUtf8Bytes(this, Json));

    /// <summary>Reads and checks a version folder: the manifest parses and every file it lists has its size and hash.</summary>
    public static CheckpointManifest ReadVerified(string dir)
    {
        var manifest = Read(Path.Combine(dir, CheckpointLayout.ManifestFile));
        foreach (var (name, entry) in manifest.Files)
        {
            var file = new FileInfo(Path.Combine(dir, name));
            if (file.LinkTarget is not null) throw new CheckpointAccessException(StatusCode.PermissionDenied, $"'{file.FullName}' is a symbolic link; checkpoint files may not be links");
            if (!file.Exists) throw Corrupt($"'{file.FullName}' is listed in the manifest but missing");
            if (file.Length != entry.Bytes) throw Corrupt($"'{file.FullName}' has {file.Length} bytes, the manifest says {entry.Bytes}: the file is truncated or corrupt");
            var hash = Hash(file.FullName);
            if (hash != entry.Sha256) throw Corrupt($"'{file.FullName}' fails its SHA-256 check (manifest {entry.Sha256[..16]}..., file {hash[..16]}...): the file is corrupt");
        }

        return manifest;
    }

    private static CheckpointManifest Read(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) throw new CheckpointAccessException(StatusCode.PermissionDenied, $"'{path}' is a symbolic link; checkpoint files may not be links");
        if (!info.Exists) throw Corrupt($"'{path}' is missing: the version folder was not written by SaveCheckpoint");
        if (info.Length > MaxManifestBytes) throw Corrupt($"'{path}' has {info.Length} bytes, more than a manifest can");
        CheckpointManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllBytes(path), Json);
        }
        catch (JsonException e)
        {
            throw Corrupt($"'{path}' is not a checkpoint manifest: {e.Message}");
        }

        if (m is null || m.Format != FormatName || m.Files is null) throw Corrupt($"'{path}' is not a {FormatName} manifest (format '{m?.Format}')");
        foreach (var (name, entry) in m.Files)
        {
            // Plain names only: a manifest can never make the loader read outside its folder.
            if (name.Length == 0 || name is "." or ".." || name == CheckpointLayout.ManifestFile || name.IndexOfAny(['/', '\\', '\0']) >= 0
                || entry is null || entry.Bytes < 0 || entry.Sha256 is not { Length: 64 })
            {
                throw Corrupt($"'{path}' has a malformed entry '{name}'");
            }
        }

        return m;
    }

    private static string Hash(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static CheckpointAccessException Corrupt(string message) => new(StatusCode.DataLoss, message);
}
