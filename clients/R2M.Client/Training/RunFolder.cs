using System.Security.Cryptography;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>
/// One run per metrics file. Every metrics line and every checkpoint's client_state carries the
/// run id, so a fresh run cannot append to (or silently replace) another run's file, and a resume
/// cannot continue one run's metrics from another run's checkpoint (two runs sharing a default
/// checkpoint name "VARIANT-seedN" would otherwise mix).
/// </summary>
internal static class RunFolder
{
    /// <summary>A new random run id: 12 lowercase hex digits (48 bits; collisions are not a concern at a person's scale of runs).</summary>
    public static string NewRunId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>
    /// Before a fresh run: a metrics file with records is refused unless <paramref name="overwrite"/>
    /// (then deleted); an empty one is removed.
    /// </summary>
    public static void PrepareFresh(string metricsPath, bool overwrite)
    {
        if (!File.Exists(metricsPath))
        {
            return;
        }

        IReadOnlyList<VariantStepMetrics> lines = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(metricsPath);
        if (lines.Count > 0 && !overwrite)
        {
            throw new InvalidOperationException(
                $"{metricsPath} already holds {Describe(lines)}; give --resume to continue it, --overwrite to replace it, or another --out");
        }

        File.Delete(metricsPath);
    }

    /// <summary>
    /// Before a resume: the run id of the checkpoint and of the metrics file must agree; returns the
    /// id the resumed run continues under (a new one only for a checkpoint and file without ids).
    /// </summary>
    public static string CheckResume(string metricsPath, string checkpoint, ClientState state)
    {
        string? fileRun = null;
        if (File.Exists(metricsPath))
        {
            string[] runs = MetricsJsonlWriter.ReadAll<VariantStepMetrics>(metricsPath).Select(m => m.RunId).OfType<string>().Distinct().ToArray();
            if (runs.Length > 1)
            {
                throw new InvalidOperationException($"--resume: {metricsPath} mixes lines of runs {string.Join(", ", runs)}; start over with --overwrite");
            }

            fileRun = runs.FirstOrDefault();
        }

        if (state.RunId is { } cpRun && fileRun is not null && cpRun != fileRun)
        {
            throw new InvalidOperationException(
                $"--resume: checkpoint '{checkpoint}' belongs to run {cpRun} but {metricsPath} holds run {fileRun}; " +
                $"give run {fileRun}'s checkpoint with --checkpoint-name, or start over with --overwrite");
        }

        return state.RunId ?? fileRun ?? NewRunId();
    }

    private static string Describe(IReadOnlyList<VariantStepMetrics> lines)
    {
        string[] runs = lines.Select(m => m.RunId).OfType<string>().Distinct().ToArray();
        string who = runs.Length == 0 ? "a run" : $"run {string.Join(", ", runs)}";
        return $"{who} ({lines.Count} step line(s), last step {lines.Max(m => m.Step)})";
    }
}
