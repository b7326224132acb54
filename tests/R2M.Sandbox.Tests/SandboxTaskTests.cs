using System.Text.Json;
using R2M.Alignment;

namespace R2M.Sandbox.Tests;

public sealed class SandboxTaskTests
{
    [Fact]
    public void Registry_FourTasksThatValidate_AndGetIsCaseInsensitive()
    {
        Assert.Equal(["spurious", "oracle-labels", "shift", "beyond-semantics"], SandboxTasks.Names);
        foreach (SandboxTask t in SandboxTasks.All)
        {
            t.Validate();
            Assert.Same(t, SandboxTasks.Get(t.Name.ToUpperInvariant().Replace('-', '_')));
        }
        var e = Assert.Throws<ArgumentException>(() => SandboxTasks.Get("nope"));
        Assert.Contains("spurious, oracle-labels, shift, beyond-semantics", e.Message);
    }

    [Fact]
    public void Get_GoldPairsSuffix_SameTaskWithGoldLabels()
    {
        SandboxTask shiftGold = SandboxTasks.Get("Shift+Gold-Pairs");
        Assert.Equal(PairLabelSource.Gold, shiftGold.Labels);
        Assert.Equal(SandboxTaskRole.PositiveControl, shiftGold.Role);
        Assert.Equal(SandboxTasks.Shift.Models, shiftGold.Models);
        Assert.Equal(SandboxTasks.Shift.Schedule, shiftGold.Schedule);
        Assert.Equal("shift+gold-pairs", shiftGold.Name);
        Assert.Same(SandboxTasks.OracleLabels, SandboxTasks.Get("oracle-labels+gold-pairs")); // already gold
        Assert.Contains("NAME+gold-pairs", Assert.Throws<ArgumentException>(() => SandboxTasks.Get("nope+gold-pairs")).Message);
    }

    [Fact]
    public void Registry_TasksDifferInTheOneFactorTheyTest()
    {
        SandboxTask spurious = SandboxTasks.Spurious, oracle = SandboxTasks.OracleLabels, shift = SandboxTasks.Shift, beyond = SandboxTasks.BeyondSemantics;
        // Oracle labels: the spurious task's models and prompts, only the pair labels differ.
        Assert.Equal(spurious.Models, oracle.Models);
        Assert.Equal(spurious.ModelSet, oracle.ModelSet);
        Assert.Equal(spurious.Schedule, oracle.Schedule);
        Assert.Equal(PairLabelSource.RewardModel, spurious.Labels);
        Assert.Equal(PairLabelSource.Gold, oracle.Labels);
        Assert.Equal(SandboxTaskRole.PositiveControl, oracle.Role);
        // Shift: an unplanted RM and a moving window; otherwise the default models.
        Assert.Equal(RewardPairKind.Planted, spurious.Models.Task.RewardPairs);
        Assert.Equal(new SandboxModelOptions { Task = new SandboxOptions { RewardPairs = RewardPairKind.Unplanted } }, shift.Models);
        Assert.Equal(0, spurious.Schedule.Shift);
        Assert.Equal((6, 9), shift.Schedule.FinalRange);
        // Beyond semantics: shift's RM data and steps, a smaller RM, a fixed window.
        Assert.Equal(shift.Models.Task, beyond.Models.Task);
        Assert.Equal(shift.Models.RewardSteps, beyond.Models.RewardSteps);
        Assert.True(beyond.Models.RewardHiddenSize < shift.Models.RewardHiddenSize && beyond.Models.RewardLayers < beyond.Models.PolicyLayers);
        Assert.Equal(0, beyond.Schedule.Shift);
        Assert.Equal(3, SandboxTasks.All.Select(t => t.ModelSet).Distinct().Count());
    }

    [Fact]
    public void DigitSchedule_FourEqualPhasesOverTheRun()
    {
        var s = new DigitSchedule(3, 6, Shift: 3);
        int[] phases = Enumerable.Range(1, 100).Select(step => s.Phase(step, 100)).ToArray();
        for (int p = 0; p < 4; p++)
        {
            Assert.Equal(Enumerable.Repeat(p, 25), phases.Skip(25 * p).Take(25));
        }
        Assert.Equal((3, 6), s.Range(1, 100));
        Assert.Equal((4, 7), s.Range(26, 100));
        Assert.Equal((6, 9), s.Range(100, 100));
        Assert.Equal(0, s.Phase(1, 1));
        Assert.Equal((3, 6), DigitSchedule.Fixed(3, 6).Range(77, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Phase(0, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Phase(101, 100));
        Assert.Contains("13 digits", Assert.Throws<ArgumentException>(() => new DigitSchedule(3, 10, 3).Validate()).Message);
    }

    [Fact]
    public void Prompts_PureFunctionOfSeedAndStep_PrefixStable()
    {
        SandboxTask t = SandboxTasks.Shift;
        Assert.Equal(t.Prompts(5, 10, 100, 16), t.Prompts(5, 10, 100, 16));
        Assert.Equal(t.Prompts(5, 10, 100, 8), t.Prompts(5, 10, 100, 16).Take(8));
        Assert.NotEqual(t.Prompts(5, 10, 100, 16), t.Prompts(5, 11, 100, 16));
        Assert.NotEqual(t.Prompts(5, 10, 100, 16), t.Prompts(6, 10, 100, 16));
        // The spurious task and its oracle see the same prompts.
        Assert.Equal(SandboxTasks.Spurious.Prompts(3, 7, 100, 16), SandboxTasks.OracleLabels.Prompts(3, 7, 100, 16));
    }

    [Fact]
    public void Prompts_Shift_DigitCountsFollowTheSchedule()
    {
        SandboxTask t = SandboxTasks.Shift;
        for (int step = 1; step <= 100; step++)
        {
            (int min, int max) = t.Schedule.Range(step, 100);
            Assert.All(t.Prompts(1, step, 100, 32), p => Assert.InRange(p.Digits.Count, min, max));
        }
        // Each phase's window is covered, the first on the SFT range, the last beyond it.
        int[] first = Enumerable.Range(1, 25).SelectMany(s => t.Prompts(1, s, 100, 32)).Select(p => p.Digits.Count).Distinct().Order().ToArray();
        int[] last = Enumerable.Range(76, 25).SelectMany(s => t.Prompts(1, s, 100, 32)).Select(p => p.Digits.Count).Distinct().Order().ToArray();
        Assert.Equal([3, 4, 5, 6], first);
        Assert.Equal([6, 7, 8, 9], last);
        Assert.All(SandboxTasks.Spurious.Prompts(1, 100, 100, 64), p => Assert.InRange(p.Digits.Count, 3, 6));
    }

    [Fact]
    public void HeldOut_FinalStepOfShift_GoldLabelledPairsOnTheShiftedWindow()
    {
        var pairs = SandboxTasks.Shift.HeldOut(300, 2, 100, 100);
        Assert.Equal(300, pairs.Count);
        Assert.All(pairs, p =>
        {
            Assert.InRange(p.Prompt.Digits.Count, 6, 9);
            Assert.True(p.ChosenGold > p.RejectedGold);
            Assert.Equal(p.ChosenGold, SandboxTasks.Shift.Gold(p.Prompt, p.Chosen));
        });
        Assert.Equal(pairs, SandboxTasks.Shift.HeldOut(300, 2, 100, 100));
        Assert.All(SandboxTasks.Shift.HeldOut(100, 2, 1, 100), p => Assert.InRange(p.Prompt.Digits.Count, 3, 6));
    }

    [Fact]
    public void RewardModelTraining_Unplanted_HonestGoldPairsFromTheirOwnStream()
    {
        var o = new SandboxOptions { RewardPairs = RewardPairKind.Unplanted };
        var pairs = SandboxData.RewardModelTraining(3000, 4, o);
        var stats = PreferenceStats.Compute(pairs);
        Assert.All(pairs, p => Assert.True(p.ChosenGold > p.RejectedGold));
        Assert.True(stats.ChosenBangRate < stats.RejectedBangRate, $"'!' should predict losing: chosen {stats.ChosenBangRate:F3}, rejected {stats.RejectedBangRate:F3}");
        Assert.Equal(pairs, SandboxData.RewardModelTraining(3000, 4, o));
        Assert.NotEqual(pairs.Take(50), SandboxData.HeldOut(50, 4, o));
        Assert.NotEqual(pairs.Take(50), SandboxData.RewardModelTraining(50, 4));
    }

    [Fact]
    public void RewardPairs_Default_IsLeftOutOfTheOptionsJson_SoOldSandboxesKeepTheirHash()
    {
        Assert.DoesNotContain("RewardPairs", JsonSerializer.Serialize(new SandboxOptions()));
        Assert.Contains("\"RewardPairs\":1", JsonSerializer.Serialize(new SandboxOptions { RewardPairs = RewardPairKind.Unplanted }));
        Assert.NotEqual(SandboxTasks.Spurious.Models.Hash(), SandboxTasks.Shift.Models.Hash());
        Assert.Throws<ArgumentException>(() => new SandboxOptions { RewardPairs = (RewardPairKind)7 }.Validate());
    }

    [Fact]
    public void OracleLabels_GrebtPairIsTheGoldWinnerAndLoser()
    {
        // The RM loves item 0 (say, it carries '!'); the gold reward prefers item 1 and rates item 0 lowest.
        double[] rm = [3.0, 1.0, 2.0];
        double[] gold = [0.5, 1.0, 0.8];
        Assert.Equal(gold, SandboxTasks.OracleLabels.SelectionRewards(rm, gold));
        Assert.Equal(rm, SandboxTasks.Spurious.SelectionRewards(rm, gold));
        (int w, int l) = BtPair(rm, SandboxTasks.OracleLabels.SelectionRewards(rm, gold));
        Assert.Equal((1, 0), (w, l));
        Assert.Equal((0, 1), BtPair(rm, SandboxTasks.Spurious.SelectionRewards(rm, gold)));
        Assert.Throws<ArgumentException>(() => PairLabels.SelectionRewards(PairLabelSource.Gold, rm, [1.0]));
        Assert.Contains("not R2M", PairLabels.Describe(PairLabelSource.Gold));
        Assert.Equal(PairLabelSource.Gold, SandboxTasks.Shift.WithGoldLabels().Labels);
        Assert.Equal("shift+gold-pairs", SandboxTasks.Shift.WithGoldLabels().Name);
    }

    [Fact]
    public void ModelDirectory_OneFolderPerModelSetAndSeed()
    {
        Assert.Equal(Path.Combine("root", "spurious", "seed-3"), SandboxTasks.OracleLabels.ModelDirectory("root", 3));
        Assert.Equal(11UL, SandboxTasks.Shift.ModelOptions(11).Seed);
        Assert.Equal(SandboxTasks.Shift.Models with { Seed = 11 }, SandboxTasks.Shift.ModelOptions(11));
    }

    /// <summary>Which two items GREBT's BT term pulls apart (alpha = 0): the winner's gradient is negative, the loser's positive.</summary>
    private static (int Winner, int Loser) BtPair(double[] rewards, double[] selection)
    {
        var d = new float[rewards.Length];
        GrebtLoss.Compute(rewards.Select(x => (float)x).ToArray(), selection.Select(x => (float)x).ToArray(), rewards.Length, new GrebtOptions(Alpha: 0f), d);
        int w = Array.FindIndex(d, v => v < 0), l = Array.FindIndex(d, v => v > 0);
        Assert.Equal(rewards.Length - 2, d.Count(v => v == 0));
        return (w, l);
    }
}
