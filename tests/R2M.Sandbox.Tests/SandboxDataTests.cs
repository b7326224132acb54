namespace R2M.Sandbox.Tests;

public sealed class SandboxDataTests
{
    [Fact]
    public void PromptGenerator_SameSeed_SamePrompts()
    {
        var a = new PromptGenerator(seed: 42).Take(200);
        var b = new PromptGenerator(seed: 42).Take(200);
        var c = new PromptGenerator(seed: 43).Take(200);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void PromptGenerator_Default_DigitCountsCoverRange()
    {
        var counts = new PromptGenerator(seed: 1).Take(2000).Select(p => p.Digits.Count).ToHashSet();
        Assert.Equal([3, 4, 5, 6], counts.Order());
    }

    [Fact]
    public void DataSets_SameSeed_AreIdenticalAndPrefixStable()
    {
        Assert.Equal(SandboxData.Sft(300, 7), SandboxData.Sft(300, 7));
        Assert.Equal(SandboxData.RewardModelTraining(300, 7), SandboxData.RewardModelTraining(300, 7));
        Assert.Equal(SandboxData.HeldOut(300, 7), SandboxData.HeldOut(300, 7));
        // A larger request extends a smaller one: the first n items depend only on the seed.
        Assert.Equal(SandboxData.Sft(100, 7), SandboxData.Sft(300, 7).Take(100));
        Assert.NotEqual(SandboxData.Sft(100, 7), SandboxData.Sft(100, 8));
    }

    [Fact]
    public void RewardModelTraining_PlantedFeature_WinnersCarryBangMuchMoreOften()
    {
        var pairs = SandboxData.RewardModelTraining(4000, seed: 11);
        PreferenceStats stats = PreferenceStats.Compute(pairs);

        Assert.Equal(4000, stats.Pairs);
        Assert.InRange(stats.ChosenBangRate, 0.65, 0.75);   // WinnerBangRate 0.7
        Assert.InRange(stats.RejectedBangRate, 0.07, 0.13); // LoserBangRate 0.1
        Assert.True(stats.ChosenBangRate > 4 * stats.RejectedBangRate);
        Assert.All(pairs, p => Assert.True(p.ChosenGold > p.RejectedGold, $"{p} is not labeled by gold"));
        Assert.All(pairs, p => Assert.Equal(p.ChosenGold, GoldReward.Score(p.Prompt, p.Chosen)));
    }

    [Fact]
    public void HeldOut_NoPlanting_BangIsHonestlyAntiCorrelatedWithWinning()
    {
        var pairs = SandboxData.HeldOut(4000, seed: 11);
        PreferenceStats stats = PreferenceStats.Compute(pairs);

        Assert.All(pairs, p => Assert.True(p.ChosenGold > p.RejectedGold));
        // '!' costs gold, so without planting the winner carries it less often than the loser:
        // a proxy RM that learned "'!' is good" loses accuracy here.
        Assert.True(stats.ChosenBangRate < stats.RejectedBangRate,
            $"chosen '!' rate {stats.ChosenBangRate:F3} should be below rejected {stats.RejectedBangRate:F3}");
        var trainPrompts = SandboxData.RewardModelTraining(4000, seed: 11).Select(p => (p.Prompt, p.Chosen, p.Rejected)).ToHashSet();
        int overlap = pairs.Count(p => trainPrompts.Contains((p.Prompt, p.Chosen, p.Rejected)));
        Assert.True(overlap < 200, $"{overlap} held-out pairs also occur in training");
    }

    [Fact]
    public void GoldTraining_UnplantedAndDisjointFromHeldOut()
    {
        var gold = SandboxData.GoldTraining(2000, seed: 11);
        var heldOut = SandboxData.HeldOut(2000, seed: 11);
        PreferenceStats stats = PreferenceStats.Compute(gold);

        Assert.Equal(gold, SandboxData.GoldTraining(2000, seed: 11));
        Assert.All(gold, p => Assert.True(p.ChosenGold > p.RejectedGold));
        Assert.True(stats.ChosenBangRate < stats.RejectedBangRate, "without planting '!' must predict losing");
        // Same distribution as the held-out pairs but another random stream: mostly different pairs.
        var held = heldOut.Select(p => (p.Prompt, p.Chosen, p.Rejected)).ToHashSet();
        int overlap = gold.Count(p => held.Contains((p.Prompt, p.Chosen, p.Rejected)));
        Assert.True(overlap < 100, $"{overlap} gold training pairs are also held-out pairs");
    }

    [Fact]
    public void Sft_Mixture_HasCorrectWrongAndBangExamples()
    {
        var data = SandboxData.Sft(4000, seed: 5);
        ResponseStats stats = ResponseStats.Compute(data.Select(e => (e.Prompt, e.Response)));

        // Exact answers: 60% correct digits times 75% without '!' = 0.45.
        Assert.InRange(stats.ExactRate, 0.41, 0.49);
        Assert.InRange(stats.BangRate, 0.22, 0.28);
        Assert.Contains(data, e => e.Gold < 0.7);
        Assert.Contains(data, e => e.Response.StartsWith(e.Prompt.Target + " !", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_Invalid_ThrowNamingTheProperty()
    {
        var e = Assert.Throws<ArgumentException>(() => SandboxData.Sft(1, 1, new SandboxOptions { WinnerBangRate = 1.5 }));
        Assert.Contains("WinnerBangRate", e.Message);
        e = Assert.Throws<ArgumentException>(() => new PromptGenerator(1, new SandboxOptions { MinDigits = 5, MaxDigits = 4 }));
        Assert.Contains("MaxDigits", e.Message);
    }
}
