namespace R2M.Alignment.Tests;

public sealed class VariantTests
{
    private static float[] HeadAfter(AlignmentVariant v, int steps, out R2MTrainer trainer)
    {
        (trainer, _, _) = TrainerTests.Build(v);
        for (int i = 0; i < steps; i++) trainer.TrainStep(TrainerTests.Prompts(i));
        return trainer.RewardModel.Head.Parameters;
    }

    private static float[] Initial(AlignmentVariant v) => (float[])TrainerTests.Build(v).Trainer.RewardModel.Head.Parameters.Clone();

    [Theory]
    [InlineData(AlignmentVariant.Vanilla)]
    [InlineData(AlignmentVariant.WithoutTrain)]
    [InlineData(AlignmentVariant.Pretrained)]
    public void FrozenVariants_HeadNeverChanges(AlignmentVariant v)
    {
        var before = Initial(v);
        Assert.Equal(before, HeadAfter(v, 3, out _));
    }

    [Fact]
    public void WithoutTrain_FusesFeedbackIntoScores_VanillaDoesNot()
    {
        HeadAfter(AlignmentVariant.WithoutTrain, 3, out var fused);
        HeadAfter(AlignmentVariant.Vanilla, 3, out var vanilla);
        var items = fused.Inputs(fused.LastRollouts);
        var r = new float[items.Count];
        fused.RewardModel.Score(items, 3, r);
        Assert.NotEqual(fused.RewardModel.Head.VanillaScore(items[0].Rte.Span), r[0]);
        var vitems = vanilla.Inputs(vanilla.LastRollouts);
        vanilla.RewardModel.Score(vitems, 3, r.AsSpan(0, vitems.Count));
        Assert.Equal(vanilla.RewardModel.Head.VanillaScore(vitems[0].Rte.Span), r[0]);
    }

    [Fact]
    public void IterativeHead_UpdatesOnlyPhi()
    {
        var before = Initial(AlignmentVariant.IterativeHead);
        var after = HeadAfter(AlignmentVariant.IterativeHead, 3, out var t);
        int phi = t.RewardModel.Head.PhiOffset;
        Assert.Equal(before[..phi], after[..phi]);
        Assert.NotEqual(before[phi..], after[phi..]);
        Assert.Equal(1f, t.RewardModel.OmegaAt(5));
    }

    [Theory]
    [InlineData(AlignmentVariant.R2M, 0.3f)]
    [InlineData(AlignmentVariant.WithoutBT, 1f)]
    [InlineData(AlignmentVariant.WithoutGRE, 0f)]
    [InlineData(AlignmentVariant.WithNoise, 0.3f)]
    public void TrainedVariants_UpdateCrossAttentionWithTheirAlpha(AlignmentVariant v, float alpha)
    {
        var before = Initial(v);
        var after = HeadAfter(v, 3, out var t);
        Assert.Equal(alpha, t.RewardModel.Grebt.Alpha);
        Assert.NotEqual(before[..t.RewardModel.Head.PhiOffset], after[..t.RewardModel.Head.PhiOffset]);
    }

    [Fact]
    public void WithNoise_ScoresDifferFromRealFeedbackAndKeepTheScale()
    {
        var (noisy, _, _) = TrainerTests.Build(AlignmentVariant.WithNoise);
        var (real, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
        noisy.TrainStep(TrainerTests.Prompts(0));
        real.TrainStep(TrainerTests.Prompts(0));
        var items = real.Inputs(real.LastRollouts);
        var a = new float[items.Count];
        var b = new float[items.Count];
        real.RewardModel.Score(items, 5, a);
        noisy.RewardModel.Score(items, 5, b);
        Assert.NotEqual(a, b);
        Assert.All(b, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Pretrained_OfflineBradleyTerry_LowersPairLoss()
    {
        var (t, _, bb) = TrainerTests.Build(AlignmentVariant.Pretrained);
        // Gold pairs: sequences with more of token 5 win (a preference phi initially does not encode).
        var pairs = Enumerable.Range(0, 16).Select(i => (bb.ComputeRte([5, 5, i % 4 + 1]), bb.ComputeRte([i % 4 + 1, 1, 2]))).ToList();
        var losses = t.RewardModel.PretrainBradleyTerry(pairs, 30, 0.05f);
        Assert.True(losses[^1] < losses[0] - 0.05f, $"{losses[0]} -> {losses[^1]}");
    }
}
