using System.Globalization;
using System.Text;
using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>
/// Prepares the sandbox's tiny models (docs/sandbox.md "The tiny models") as HuggingFace-format
/// directories that r2m-server loads: <c>policy/</c> (LlamaForCausalLM after SFT), <c>rm/</c>
/// (GPTNeoXForSequenceClassification, Bradley-Terry on pairs with the planted '!', the hackable
/// proxy) and <c>rm-gold/</c> (the same RM fine-tuned on unplanted gold pairs, for the
/// PRETRAINED_RM baseline); each holds config.json, model.safetensors, tokenizer.json and
/// tokenizer_config.json. Everything is a pure function of <see cref="SandboxModelOptions"/>
/// (seed included) on a given machine. A <c>manifest.json</c> beside them records the seed, the
/// options hash, every file's SHA-256 and the measured <see cref="SandboxModelReport"/>.
/// </summary>
public static class SandboxModels
{
    public const string PolicyDirectoryName = "policy";
    public const string RewardModelDirectoryName = "rm";
    public const string GoldRewardModelDirectoryName = "rm-gold";
    public const string ManifestFileName = "manifest.json";

    private const string LockFileName = ".sandbox.lock";
    private const string BuildPrefix = ".build-";

    private static readonly string[] ModelDirectories = [PolicyDirectoryName, RewardModelDirectoryName, GoldRewardModelDirectoryName];

    private static readonly string[] RequiredFiles = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];

    /// <summary>
    /// Returns the sandbox models in <paramref name="directory"/>, training them first when they are
    /// absent or stale (no manifest, other seed or options, a file missing or changed). The directory
    /// is the sandbox's own: this call replaces its policy/, rm/, rm-gold/ and manifest.json and
    /// leaves other entries alone. Models are built in a temporary subdirectory and moved into place,
    /// the manifest last, so an interrupted build is rebuilt next time; concurrent callers (processes
    /// or threads) wait on a lock file and then find the models current.
    /// </summary>
    /// <param name="directory">Where the models live (created if missing).</param>
    /// <param name="options">Sizes, steps and seed; null for the defaults.</param>
    /// <param name="progress">Receives one-line progress messages ("sandbox: ...").</param>
    /// <param name="cancellationToken">Stops training between steps; nothing half-built is left in place.</param>
    public static Task<SandboxModelPaths> EnsureAsync(string directory, SandboxModelOptions? options = null,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default) =>
        EnsureAsync(directory, options, progress, TimeProvider.System, force: false, cancellationToken);

    /// <summary>As <see cref="EnsureAsync(string, SandboxModelOptions?, IProgress{string}?, CancellationToken)"/>, with the clock
    /// that times the phases and <paramref name="force"/> to rebuild even when the models are current.</summary>
    public static Task<SandboxModelPaths> EnsureAsync(string directory, SandboxModelOptions? options, IProgress<string>? progress,
        TimeProvider timeProvider, bool force, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var o = options ?? new SandboxModelOptions();
        o.Validate();
        string root = Path.GetFullPath(directory);
        // Training is CPU-bound: run it off the caller's thread.
        return Task.Run(() => Ensure(root, o, progress, timeProvider, force, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Preparation alone, for a CLI (<c>r2m-client demo --prepare-only</c>) or debugging: ensures the
    /// models (rebuilding when <paramref name="force"/>), writes progress lines and the measured report
    /// to <paramref name="output"/>, and returns a process exit code: 0 on success, 1 with a message
    /// naming the problem on bad options or an I/O error, 2 when cancelled. It does not throw for those.
    /// </summary>
    public static async Task<int> PrepareOnlyAsync(string directory, SandboxModelOptions? options, TextWriter output, bool force = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var progress = new LineProgress(output);
        try
        {
            SandboxModelPaths paths = await EnsureAsync(directory, options, progress, TimeProvider.System, force, cancellationToken).ConfigureAwait(false);
            output.WriteLine($"policy:  {paths.Policy}");
            output.WriteLine($"rm:      {paths.RewardModel}");
            output.WriteLine($"rm-gold: {paths.GoldRewardModel}");
            output.Write(Describe(paths.Report));
            return 0;
        }
        catch (OperationCanceledException)
        {
            output.WriteLine("sandbox: preparation cancelled; the directory will be rebuilt next time");
            return 2;
        }
        catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
        {
            output.WriteLine($"sandbox: preparation of '{directory}' failed: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Null when <paramref name="directory"/> holds current models for <paramref name="options"/>;
    /// otherwise the reason they would be rebuilt. Reads files only, trains nothing.
    /// </summary>
    public static string? StaleReason(string directory, SandboxModelOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var o = options ?? new SandboxModelOptions();
        o.Validate();
        return Check(Path.GetFullPath(directory), o, o.Hash(), out _);
    }

    /// <summary>The report recorded in <paramref name="directory"/>'s manifest, or null when there is none readable.</summary>
    public static SandboxModelReport? ReadReport(string directory) =>
        SandboxManifest.TryRead(Path.Combine(Path.GetFullPath(directory), ManifestFileName), out _)?.Report;

    /// <summary>The report as a few human-readable lines (what <c>r2m-client demo --prepare-only</c> prints).</summary>
    public static string Describe(SandboxModelReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var p = report.Policy;
        sb.AppendLine(c, $"sandbox seed {report.Seed}, options {report.OptionsHash[..Math.Min(12, report.OptionsHash.Length)]}, prepared in {report.TotalSeconds:F1} s");
        sb.AppendLine(c, $"  policy  ({p.Parameters} params): SFT loss {p.LossStart:F3} -> {p.LossEnd:F3} in {p.Seconds:F1} s; " +
            $"{p.Samples.Count} samples: gold {p.Samples.MeanGold:F3}, exact {p.Samples.ExactRate:F3}, '!' rate {p.Samples.BangRate:F3}, length {p.Samples.MeanLength:F2}");
        AppendRm(sb, "rm     ", report.Proxy);
        AppendRm(sb, "rm-gold", report.Gold);
        return sb.ToString();
    }

    private static void AppendRm(StringBuilder sb, string name, RewardModelReport r) =>
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"  {name} ({r.Parameters} params): BT loss {r.LossStart:F3} -> {r.LossEnd:F3} in {r.Seconds:F1} s; accuracy train {r.TrainAccuracy:F3}, " +
            $"held-out {r.HeldOutAccuracy:F3}; sort+' !' > sort on {r.BangPreferenceRate:F3} (margin {r.BangMargin:+0.000;-0.000}), " +
            $"max '!' on {r.MaxBangPreferenceRate:F3} (margin {r.MaxBangMargin:+0.000;-0.000})");

    private static SandboxModelPaths Ensure(string root, SandboxModelOptions o, IProgress<string>? progress, TimeProvider time, bool force,
        CancellationToken ct)
    {
        Directory.CreateDirectory(root);
        string hash = o.Hash();
        using var lockFile = AcquireLock(root, progress, ct);
        SandboxManifest? manifest = null;
        string? stale = force ? "a rebuild was requested" : Check(root, o, hash, out manifest);
        if (stale is null)
        {
            progress?.Report($"sandbox: models in {root} are current (seed {o.Seed})");
            return Paths(root, manifest!.Report, rebuilt: false);
        }
        progress?.Report($"sandbox: building models in {root}: {stale}");
        RemoveLeftovers(root);
        string build = Path.Combine(root, BuildPrefix + Guid.NewGuid().ToString("N"));
        try
        {
            SandboxModelReport report;
            using (new GemmThreadScope())
            {
                report = new SandboxBuilder(o, progress, time).Build(build, ct);
            }
            Install(root, build);
            var files = SandboxManifest.HashFiles(root, ModelDirectories);
            new SandboxManifest(SandboxManifest.FormatName, SandboxModelOptions.RecipeVersion, o.Seed, hash, files, report)
                .Write(Path.Combine(root, ManifestFileName));
            progress?.Report($"sandbox: ready in {report.TotalSeconds:F1} s ({files.Count} files)");
            return Paths(root, report, rebuilt: true);
        }
        finally
        {
            if (Directory.Exists(build))
            {
                Directory.Delete(build, recursive: true);
            }
        }
    }

    /// <summary>Null when current; else why not. <paramref name="manifest"/> is the parsed manifest when current.</summary>
    private static string? Check(string root, SandboxModelOptions o, string hash, out SandboxManifest? manifest)
    {
        manifest = SandboxManifest.TryRead(Path.Combine(root, ManifestFileName), out string reason);
        if (manifest is null)
        {
            return reason;
        }
        foreach (string dir in ModelDirectories)
        {
            foreach (string file in RequiredFiles)
            {
                if (!manifest.Files.ContainsKey($"{dir}/{file}"))
                {
                    return $"the manifest does not list {dir}/{file}";
                }
            }
        }
        string? mismatch = manifest.Mismatch(root, o, hash);
        if (mismatch is not null)
        {
            manifest = null;
        }
        return mismatch;
    }

    /// <summary>
    /// Moves the built model directories into place. The manifest goes first, so until the new one
    /// is written a reader sees "stale", never old files under a matching manifest.
    /// </summary>
    private static void Install(string root, string build)
    {
        File.Delete(Path.Combine(root, ManifestFileName));
        foreach (string dir in ModelDirectories)
        {
            string target = Path.Combine(root, dir);
            if (Directory.Exists(target))
            {
                string old = Path.Combine(root, BuildPrefix + "old-" + Guid.NewGuid().ToString("N"));
                Directory.Move(target, old);
                Directory.Delete(old, recursive: true);
            }
            Directory.Move(Path.Combine(build, dir), target);
        }
    }

    /// <summary>Deletes build directories an interrupted run left behind (under the lock, so none is in use).</summary>
    private static void RemoveLeftovers(string root)
    {
        foreach (string dir in Directory.EnumerateDirectories(root, BuildPrefix + "*"))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// An exclusive lock file (FileShare.None is an exclusive flock on Unix and a sharing mode on
    /// Windows), polled until free: preparation is rare and long, so polling is simple and enough.
    /// </summary>
    private static FileStream AcquireLock(string root, IProgress<string>? progress, CancellationToken ct)
    {
        string path = Path.Combine(root, LockFileName);
        bool announced = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                if (!announced)
                {
                    progress?.Report($"sandbox: waiting for another preparation of {root} to finish");
                    announced = true;
                }
                ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(200));
            }
        }
    }

    private static SandboxModelPaths Paths(string root, SandboxModelReport report, bool rebuilt) => new(
        root,
        Path.Combine(root, PolicyDirectoryName),
        Path.Combine(root, RewardModelDirectoryName),
        Path.Combine(root, GoldRewardModelDirectoryName),
        Path.Combine(root, ManifestFileName),
        report,
        rebuilt);

    /// <summary>Writes each report as one line, synchronously and in order (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class LineProgress(TextWriter output) : IProgress<string>
    {
        private readonly Lock _gate = new();

        public void Report(string value)
        {
            lock (_gate)
            {
                output.WriteLine(value);
            }
        }
    }
}
