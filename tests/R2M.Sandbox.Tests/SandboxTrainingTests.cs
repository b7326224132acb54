using R2M.Models;
using R2M.Sandbox.Internal;

namespace R2M.Sandbox.Tests;

public sealed class SandboxTrainingTests
{
    [Fact]
    public void PolicySftTrain_FewSteps_LowersLossOnUnseenExamples()
    {
        // Every GEMM of this test project runs inside a scope, so Gemm.ThreadCount never changes under a running GEMM.
        using var oneThread = new GemmThreadScope();
        var o = TinySandbox.Options();
        TransformerModel model = PolicySft.Create(o);
        var unseen = SandboxData.Sft(64, seed: 1234).Select(e => SandboxVocabulary.EncodeExample(e.Prompt.Text, e.Response)).ToArray();
        double before = PolicySft.Loss(model, unseen);

        TrainingCurve curve = PolicySft.Train(model, SandboxData.Sft(o.SftExamples, o.Seed), o, null, CancellationToken.None);

        double after = PolicySft.Loss(model, unseen);
        Assert.Equal(o.SftSteps, curve.Losses.Count);
        // A fresh model is near uniform over 36 tokens (ln 36 = 3.58 nats); SFT must beat that clearly.
        Assert.InRange(before, 3.0, 4.2);
        Assert.True(after < before - 0.5, $"unseen-example loss {before:F3} -> {after:F3}");
    }

    [Fact]
    public void RewardModelBtTrain_FewSteps_LowersLossOnUnseenPlantedPairs()
    {
        using var oneThread = new GemmThreadScope();
        var o = TinySandbox.Options();
        TransformerModel model = RewardModelBt.Create(o);
        var unseen = SandboxData.RewardModelTraining(128, seed: 1234);
        double before = RewardModelBt.Loss(model, unseen);

        RewardModelBt.Train(model, SandboxData.RewardModelTraining(o.RewardPairs, o.Seed), 60, o.RewardBatchSize, o.RewardLearningRate,
            SeedStreams.RewardOrder, o, null, CancellationToken.None);

        double after = RewardModelBt.Loss(model, unseen);
        // Untrained scores are all near 0, so the BT loss starts near ln 2.
        Assert.InRange(before, 0.6, 0.8);
        Assert.True(after < before - 0.1, $"unseen-pair BT loss {before:F3} -> {after:F3}");
    }

    [Fact]
    public void LearningRateSchedule_WarmupThenCosineToTenPercent()
    {
        Assert.Equal(0.1f, LearningRateSchedule.At(0, 100, 10, 1f), 5);
        Assert.Equal(1f, LearningRateSchedule.At(9, 100, 10, 1f), 5);
        Assert.Equal(1f, LearningRateSchedule.At(10, 100, 10, 1f), 5);
        Assert.Equal(0.55f, LearningRateSchedule.At(55, 100, 10, 1f), 5);
        Assert.Equal(0.1f, LearningRateSchedule.At(100, 100, 10, 1f), 5);
    }

    [Fact]
    public void EpochSampler_OneEpoch_VisitsEveryIndexOnce()
    {
        var sampler = new EpochSampler(10, new SandboxRandom(3));
        int[] epoch = [.. sampler.NextBatch(4), .. sampler.NextBatch(4), .. sampler.NextBatch(2)];
        Assert.Equal(Enumerable.Range(0, 10), epoch.Order());
        Assert.NotEqual(Enumerable.Range(0, 10), epoch);
    }
}
