using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace R2M.Sandbox.Internal;

/// <summary>
/// manifest.json of a prepared sandbox: which options built it (seed and hash), the SHA-256 of
/// every model file, and the measured report. Written last and atomically, so a present, matching
/// manifest means complete models; anything else means "rebuild".
/// </summary>
internal sealed record SandboxManifest(
    string Format,
    int RecipeVersion,
    ulong Seed,
    string OptionsHash,
    SortedDictionary<string, string> Files,
    SandboxModelReport Report)
{
    public const string FormatName = "r2m-sandbox-models";

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // A run with zero training steps has NaN loss figures; keep them rather than fail.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a manifest; null with a reason when it is absent or unreadable.</summary>
    public static SandboxManifest? TryRead(string path, out string reason)
    {
        if (!File.Exists(path))
        {
            reason = $"no manifest at {path}";
            return null;
        }
        try
        {
            var m = JsonSerializer.Deserialize<SandboxManifest>(File.ReadAllText(path), Json);
            if (m is null || m.Format != FormatName || m.Files is null || m.Report is null || m.OptionsHash is null)
            {
                reason = $"{path} is not a sandbox manifest (format '{m?.Format}')";
                return null;
            }
            reason = string.Empty;
            return m;
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            reason = $"{path} is unreadable ({e.Message})";
            return null;
        }
    }

    /// <summary>Writes the manifest through a temporary file and a rename (readers never see half of it).</summary>
    public void Write(string path)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>SHA-256 (hex) of every file under the model directories, keyed by path relative to <paramref name="root"/> with '/'.</summary>
    public static SortedDictionary<string, string> HashFiles(string root, IEnumerable<string> directories)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string dir in directories)
        {
            foreach (string file in Directory.EnumerateFiles(Path.Combine(root, dir), "*", SearchOption.AllDirectories))
            {
                string rel = Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
                files[rel] = HashFile(file);
            }
        }
        return files;
    }

    public static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Null when this manifest describes <paramref name="options"/> and every listed file is intact; else why not.</summary>
    public string? Mismatch(string root, SandboxModelOptions options, string optionsHash)
    {
        if (RecipeVersion != SandboxModelOptions.RecipeVersion)
        {
            return $"recipe version {RecipeVersion} differs from {SandboxModelOptions.RecipeVersion}";
        }
        if (Seed != options.Seed || OptionsHash != optionsHash)
        {
            return $"built for seed {Seed} / options {Short(OptionsHash)}, wanted seed {options.Seed} / options {Short(optionsHash)}";
        }
        foreach ((string rel, string hash) in Files)
        {
            string full = Path.Combine(root, rel);
            if (!File.Exists(full))
            {
                return $"{full} is missing";
            }
            if (HashFile(full) != hash)
            {
                return $"{full} changed since it was built (SHA-256 differs)";
            }
        }
        return null;
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] : hash;
}
