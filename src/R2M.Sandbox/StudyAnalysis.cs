using System.Globalization;
using System.Text;

namespace R2M.Sandbox;

/// <summary>One finished run of the study: a row (variant) of a task on one seed, with its step metrics.</summary>
/// <param name="Task">Task name (<see cref="SandboxTasks"/>).</param>
/// <param name="Row">Row name: a variant's display name, or <see cref="StudyAnalysis.OracleRow"/>.</param>
/// <param name="Seed">Run seed (also the seed of the task's models).</param>
/// <param name="Steps">Every step's metrics, in step order.</param>
/// <param name="HeldOutWithFeedback">Held-out RM accuracy at t = T with policy feedback; null when not measured.</param>
/// <param name="HeldOutWithoutFeedback">The same pairs scored without feedback (phi(H_last)); null when not measured.</param>
public sealed record StudyRun(string Task, string Row, ulong Seed, IReadOnlyList<VariantStepMetrics> Steps, double? HeldOutWithFeedback = null,
    double? HeldOutWithoutFeedback = null);

/// <summary>A row of a task's results: intervals over seeds and the paired comparison with VANILLA.</summary>
public sealed record StudyRow(string Row, BootstrapInterval Gold, PairedComparison? VersusVanilla,
    BootstrapInterval? Proxy, BootstrapInterval? BangRate, BootstrapInterval? Kl, BootstrapInterval? OnPolicyAccuracy,
    BootstrapInterval? DegenerateShare, BootstrapInterval? HeldOut);

/// <summary>
/// The analysis of docs/study.md: G = a run's mean gold reward over its last <c>window</c> steps;
/// per row the mean over seeds with a 95% percentile-bootstrap interval; against VANILLA the
/// paired bootstrap of per-seed differences (<see cref="SeedStatistics"/>). Secondary metrics
/// are averaged over the same window. Pure: the same runs give the same tables.
/// </summary>
public static class StudyAnalysis
{
    /// <summary>The oracle row's name: R2M with GREBT pairs chosen by the gold reward (a diagnostic, not R2M).</summary>
    public const string OracleRow = "ORACLE (gold pairs, diagnostic)";

    public const string VanillaRow = "VANILLA";

    /// <summary>Bootstrap stream of every interval in the study (docs/study.md: bootstrap seed 15).</summary>
    public const ulong BootstrapSeed = 15;

    /// <summary>The mechanism contrasts of docs/study.md: R2M against each of these rows, paired by seed.</summary>
    public static IReadOnlyList<string> MechanismBaselines { get; } = ["R2M_WITH_NOISE", "ITERATIVE_RM_HEAD", "R2M_WITHOUT_TRAIN"];

    /// <summary>Mean of <paramref name="select"/> over the last <paramref name="window"/> steps; null when no step in it has a value.</summary>
    public static double? WindowMean(IReadOnlyList<VariantStepMetrics> steps, int window, Func<VariantStepMetrics, double?> select)
    {
        ArgumentNullException.ThrowIfNull(steps);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        double[] values = steps.Skip(Math.Max(0, steps.Count - window)).Select(select).Where(v => v.HasValue).Select(v => v!.Value).ToArray();
        return values.Length == 0 ? null : values.Average();
    }

    /// <summary>G of a run: its mean gold reward over the last <paramref name="window"/> steps.</summary>
    public static double FinalGold(StudyRun run, int window) =>
        WindowMean(run.Steps, window, m => (double?)m.GoldReward)
        ?? throw new InvalidDataException($"task {run.Task}, row {run.Row}, seed {run.Seed}: no gold reward in the last {window} steps");

    /// <summary>Every row of one task, in the order the rows first appear in <paramref name="runs"/>.</summary>
    public static IReadOnlyList<StudyRow> Rows(IReadOnlyList<StudyRun> runs, int window)
    {
        ArgumentNullException.ThrowIfNull(runs);
        Dictionary<ulong, double>? vanilla = runs.Any(r => r.Row == VanillaRow) ? GoldBySeed(runs, VanillaRow, window) : null;
        return runs.Select(r => r.Row).Distinct().Select(row =>
        {
            StudyRun[] of = runs.Where(r => r.Row == row).OrderBy(r => r.Seed).ToArray();
            Dictionary<ulong, double> gold = GoldBySeed(runs, row, window);
            PairedComparison? paired = vanilla is null || row == VanillaRow ? null : SeedStatistics.Paired(gold, vanilla, BootstrapSeed);
            return new StudyRow(row, SeedStatistics.Bootstrap(gold.Values.ToArray(), BootstrapSeed), paired,
                Interval(of, r => WindowMean(r.Steps, window, m => m.ProxyReward)),
                Interval(of, r => WindowMean(r.Steps, window, m => m.BangRate)),
                Interval(of, r => WindowMean(r.Steps, window, m => m.Kl)),
                Interval(of, r => WindowMean(r.Steps, window, m => m.OnPolicyAccuracy)),
                Interval(of, r => WindowMean(r.Steps, window, m => m.DegenerateGroupShare)),
                Interval(of, r => r.HeldOutWithFeedback));
        }).ToArray();
    }

    /// <summary>Row <paramref name="row"/> against <paramref name="baseline"/>, paired by seed on G; null when either row is absent.</summary>
    public static PairedComparison? Contrast(IReadOnlyList<StudyRun> runs, string row, string baseline, int window) =>
        runs.Any(r => r.Row == row) && runs.Any(r => r.Row == baseline)
            ? SeedStatistics.Paired(GoldBySeed(runs, row, window), GoldBySeed(runs, baseline, window), BootstrapSeed)
            : null;

    /// <summary>A task's results as a markdown table, then the mechanism contrasts.</summary>
    public static string ToMarkdown(IReadOnlyList<StudyRun> runs, int window)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"| row | seeds | G: gold, last {window} steps [95% CI] | G - VANILLA [95% CI] | seeds won | verdict | proxy | `!` rate | KL | on-policy RM acc. | degenerate groups | held-out acc. (feedback) |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (StudyRow r in Rows(runs, window))
        {
            string vs = r.VersusVanilla is { } p ? p.Difference.ToString() : "-";
            string wins = r.VersusVanilla is { } q ? $"{q.Wins}/{q.Difference.Seeds}" : "-";
            string verdict = r.VersusVanilla is { } v ? Describe(v.Verdict) : "-";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Row} | {r.Gold.Seeds} | {r.Gold} | {vs} | {wins} | {verdict} | {Mean(r.Proxy)} | {Mean(r.BangRate, "F2")} | {Mean(r.Kl)} | {Mean(r.OnPolicyAccuracy)} | {Mean(r.DegenerateShare, "F2")} | {Mean(r.HeldOut)} |");
        }

        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Secondary metrics (mean over seeds of each run's mean over the last {window} steps; held-out at t = T):");
        sb.AppendLine();
        sb.AppendLine("| row | held-out acc. (no feedback) | gold-tied groups | fused share of reward variance | BT loss | GRE loss | SEAM |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (string row in runs.Select(r => r.Row).Distinct())
        {
            StudyRun[] of = runs.Where(r => r.Row == row).ToArray();
            string M(Func<VariantStepMetrics, double?> f, string format = "F3") => Mean(Interval(of, r => WindowMean(r.Steps, window, f)), format);
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {row} | {Mean(Interval(of, r => r.HeldOutWithoutFeedback))} | {M(m => m.GoldTiedGroupShare, "F2")} | {M(m => m.FusedShare)} | {M(m => m.BtLoss)} | {M(m => m.GreLoss)} | {M(m => m.Seam)} |");
        }

        var contrasts = MechanismBaselines.Select(b => (b, c: Contrast(runs, "R2M", b, window))).Where(x => x.c is not null).ToArray();
        if (contrasts.Length > 0)
        {
            sb.AppendLine();
            foreach ((string b, PairedComparison? c) in contrasts)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"- R2M - {b}: {c!.Difference} ({c.Wins}/{c.Difference.Seeds} seeds won): {Describe(c.Verdict)}");
            }
        }

        return sb.ToString();
    }

    public static string Describe(Verdict v) => v switch
    {
        Verdict.Better => "better",
        Verdict.Worse => "worse",
        _ => "within noise",
    };

    private static Dictionary<ulong, double> GoldBySeed(IReadOnlyList<StudyRun> runs, string row, int window)
    {
        var bySeed = new Dictionary<ulong, double>();
        foreach (StudyRun r in runs.Where(r => r.Row == row))
        {
            if (!bySeed.TryAdd(r.Seed, FinalGold(r, window)))
            {
                throw new ArgumentException($"task {r.Task}, row {row}: seed {r.Seed} appears twice");
            }
        }

        return bySeed;
    }

    private static BootstrapInterval? Interval(IEnumerable<StudyRun> runs, Func<StudyRun, double?> value)
    {
        double[] values = runs.Select(value).Where(v => v.HasValue).Select(v => v!.Value).ToArray();
        return values.Length == 0 ? null : SeedStatistics.Bootstrap(values, BootstrapSeed);
    }

    private static string Mean(BootstrapInterval? i, string format = "F3") =>
        i is null ? "-" : i.Mean.ToString(format, CultureInfo.InvariantCulture);
}
