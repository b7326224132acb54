using R2M.Models;
using R2M.Sandbox.Internal;

namespace R2M.Sandbox.Tests;

public sealed class TaskDiagnosticsTests(SandboxModelsFixture fx) : IClassFixture<SandboxModelsFixture>
{
    [Fact]
    public void Margins_MeanAbsoluteMarginOfRightAndOfWrongPairs_TiesInNeither()
    {
        (double right, double wrong) = TaskDiagnostics.Margins([3, 1, 2, 5], [1, 2, 2, 4.5]);
        Assert.Equal((2 + 0.5) / 2, right, 12);
        Assert.Equal(1.0, wrong, 12);
        Assert.True(double.IsNaN(TaskDiagnostics.Margins([2], [1]).Wrong));
        Assert.Throws<ArgumentException>(() => TaskDiagnostics.Margins([1], []));
    }

    [Fact]
    public void Measure_ShiftSchedule_OneRowPerPhaseOnItsWindow_AccuracyAsPairAccuracy()
    {
        SandboxTask task = SandboxTasks.Shift with { Models = fx.Options };
        var rows = TaskDiagnostics.Measure(task, fx.Paths, seed: 3, pairs: 40, samples: 8);
        Assert.Equal([0, 1, 2, 3], rows.Select(r => r.Phase));
        Assert.Equal([(3, 6), (4, 7), (5, 8), (6, 9)], rows.Select(r => (r.MinDigits, r.MaxDigits)));
        Assert.All(rows, r =>
        {
            Assert.Equal(40, r.Pairs);
            Assert.InRange(r.PolicyGold, 0, 1);
        });
        // Phase 0 is the held-out accuracy of the RM on the SFT window, as the builder measures it.
        var rm = ModelCheckpoint.Load(fx.Paths.RewardModel);
        Assert.Equal(ModelEvaluation.PairAccuracy(rm, SandboxData.HeldOut(40, 3, fx.Options.Task)), rows[0].Accuracy, 12);
        Assert.Equal(rows, TaskDiagnostics.Measure(task, fx.Paths, seed: 3, pairs: 40, samples: 8));
        Assert.Contains("| 3 | 6-9 | 40 |", TaskDiagnostics.ToMarkdown(rows));
    }
}
