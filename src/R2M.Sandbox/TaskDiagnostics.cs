using System.Globalization;
using System.Text;
using R2M.Models;
using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>
/// How a frozen reward model orders gold-labelled pairs of one digit window, and how confident it
/// is when right and when wrong. "Confidence" is the score margin |r(chosen) - r(rejected)|: a
/// confidently learned artefact (the spurious task's '!') shows large margins on wrong pairs;
/// extrapolation error should show small ones.
/// </summary>
/// <param name="Phase">Schedule phase (0 = the SFT window).</param>
/// <param name="MinDigits">Fewest digits of the window.</param>
/// <param name="MaxDigits">Most digits of the window.</param>
/// <param name="Pairs">Held-out pairs scored.</param>
/// <param name="Accuracy">Pair accuracy, ties 1/2 (<see cref="SandboxReport.PairAccuracy"/>).</param>
/// <param name="MeanMarginCorrect">Mean |margin| over correctly ordered pairs (NaN if none).</param>
/// <param name="MeanMarginWrong">Mean |margin| over wrongly ordered pairs (NaN if none).</param>
/// <param name="PolicyGold">Mean gold reward of SFT-policy samples on prompts of the window (temperature 1).</param>
public sealed record PhaseDiagnostics(int Phase, int MinDigits, int MaxDigits, int Pairs, double Accuracy,
    double MeanMarginCorrect, double MeanMarginWrong, double PolicyGold);

/// <summary>
/// Design checks of a task's models, measured before any RL run: per phase of its digit schedule,
/// the frozen RM's held-out accuracy and margins and the SFT policy's gold reward. They say whether
/// a task has the property it was designed for (e.g. shift: accuracy falls on new digit counts
/// while the wrong pairs stay low-margin); they use no R2M result.
/// </summary>
public static class TaskDiagnostics
{
    /// <summary>Measures the RM in <paramref name="models"/> (the one RL would use) on <paramref name="pairs"/> held-out pairs per phase.</summary>
    public static IReadOnlyList<PhaseDiagnostics> Measure(SandboxTask task, SandboxModelPaths models, ulong seed, int pairs = 1000, int samples = 256)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pairs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(samples);
        task.Validate();
        TransformerModel rm = ModelCheckpoint.Load(models.RewardModel);
        TransformerModel policy = ModelCheckpoint.Load(models.Policy);
        var o = task.ModelOptions(seed) with { EvalSamples = samples };
        var result = new List<PhaseDiagnostics>();
        for (int phase = 0; phase < task.Schedule.Phases; phase++)
        {
            var options = o.Task with { MinDigits = task.Schedule.StartMin + phase, MaxDigits = task.Schedule.StartMax + phase };
            var held = SandboxData.HeldOut(pairs, seed, options);
            var (chosen, rejected) = ModelEvaluation.ScorePairs(rm, held);
            var (right, wrong) = Margins(chosen, rejected);
            ResponseStats sampled = ModelEvaluation.SamplePolicy(policy, o with { Task = options });
            result.Add(new PhaseDiagnostics(phase, options.MinDigits, options.MaxDigits, held.Count,
                SandboxReport.PairAccuracy(chosen, rejected), right, wrong, sampled.MeanGold));
        }
        return result;
    }

    /// <summary>(mean |margin| of correctly ordered pairs, of wrongly ordered pairs); ties count in neither; NaN for an empty side.</summary>
    public static (double Correct, double Wrong) Margins(IReadOnlyList<double> chosen, IReadOnlyList<double> rejected)
    {
        ArgumentNullException.ThrowIfNull(chosen);
        ArgumentNullException.ThrowIfNull(rejected);
        if (chosen.Count != rejected.Count) throw new ArgumentException($"chosen has {chosen.Count} scores but rejected has {rejected.Count}", nameof(rejected));
        double sumRight = 0, sumWrong = 0;
        int right = 0, wrong = 0;
        for (int i = 0; i < chosen.Count; i++)
        {
            double d = chosen[i] - rejected[i];
            if (d > 0) { sumRight += d; right++; }
            else if (d < 0) { sumWrong -= d; wrong++; }
        }
        return (right == 0 ? double.NaN : sumRight / right, wrong == 0 ? double.NaN : sumWrong / wrong);
    }

    /// <summary>The diagnostics as a Markdown table.</summary>
    public static string ToMarkdown(IEnumerable<PhaseDiagnostics> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var sb = new StringBuilder();
        sb.AppendLine("| phase | digits | pairs | RM held-out acc. | mean margin, right | mean margin, wrong | SFT policy gold |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (PhaseDiagnostics r in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Phase} | {r.MinDigits}-{r.MaxDigits} | {r.Pairs} | {r.Accuracy:F3} | {r.MeanMarginCorrect:F3} | {r.MeanMarginWrong:F3} | {r.PolicyGold:F3} |");
        }
        return sb.ToString();
    }
}
