using R2M.Models.Safetensors;

namespace R2M.Alignment.Tests;

public sealed class CheckpointTests
{
    [Theory]
    [InlineData(AlignmentVariant.R2M)]
    [InlineData(AlignmentVariant.WithNoise)]
    public void KillAndResume_ContinuesBitForBit(AlignmentVariant v)
    {
        var dir = Directory.CreateTempSubdirectory("r2m-ckpt-");
        try
        {
            var (straight, sp, _) = TrainerTests.Build(v, beta: 0.04f, miniBatch: 3);
            var straightReports = Enumerable.Range(0, 4).Select(i => straight.TrainStep(TrainerTests.Prompts(i))).ToList();

            var (first, _, _) = TrainerTests.Build(v, beta: 0.04f, miniBatch: 3);
            first.TrainStep(TrainerTests.Prompts(0));
            first.TrainStep(TrainerTests.Prompts(1));
            var path = Path.Combine(dir.FullName, "step2.safetensors");
            first.SaveCheckpoint(path);

            // A fresh process: different initial weights and seeds, everything comes from the file.
            var (resumed, rp, _) = TrainerTests.Build(v, policySeed: 99, beta: 0.04f, miniBatch: 3, seed: 12345);
            resumed.LoadCheckpoint(path);
            Assert.Equal(2, resumed.Step);
            var resumedReports = Enumerable.Range(2, 2).Select(i => resumed.TrainStep(TrainerTests.Prompts(i))).ToList();

            Assert.Equal(sp.Parameters.ToArray(), rp.Parameters.ToArray());
            Assert.Equal(straight.RewardModel.Head.Parameters, resumed.RewardModel.Head.Parameters);
            Assert.Equal(straight.Policy.Optimizer.M, resumed.Policy.Optimizer.M);
            Assert.Equal(straight.RewardModel.Optimizer.V, resumed.RewardModel.Optimizer.V);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(straightReports[2 + i].MeanReward, resumedReports[i].MeanReward);
                Assert.Equal(straightReports[2 + i].Reward.Before.Loss, resumedReports[i].Reward.Before.Loss);
            }
            Assert.Equal(["step2.safetensors"], Directory.GetFiles(dir.FullName).Select(Path.GetFileName)); // no temp file left behind
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void LoadCheckpoint_WrongVariantOrTruncated_ClearErrorAndTrainerUntouched()
    {
        var dir = Directory.CreateTempSubdirectory("r2m-ckpt-");
        try
        {
            var (a, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
            var path = Path.Combine(dir.FullName, "a.safetensors");
            a.SaveCheckpoint(path);
            var (b, bp, _) = TrainerTests.Build(AlignmentVariant.Vanilla, policySeed: 3);
            var before = bp.Parameters.ToArray();
            Assert.Contains("variant R2M, expected Vanilla", Assert.ThrowsAny<CheckpointException>(() => b.LoadCheckpoint(path)).Message);
            var bytes = File.ReadAllBytes(path);
            var cut = Path.Combine(dir.FullName, "cut.safetensors");
            File.WriteAllBytes(cut, bytes[..(bytes.Length - 10)]);
            var (c, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
            Assert.ThrowsAny<CheckpointException>(() => c.LoadCheckpoint(cut));
            Assert.Equal(before, bp.Parameters.ToArray());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void RewardModelCheckpoint_RoundTripsAndRejectsOtherHeadShape()
    {
        var dir = Directory.CreateTempSubdirectory("r2m-ckpt-");
        try
        {
            var (a, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
            a.TrainStep(TrainerTests.Prompts(0));
            var path = Path.Combine(dir.FullName, "rm.safetensors");
            a.RewardModel.SaveCheckpoint(path);
            var (b, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
            b.RewardModel.LoadCheckpoint(path);
            Assert.Equal(a.RewardModel.Head.Parameters, b.RewardModel.Head.Parameters);
            Assert.Equal(a.RewardModel.Optimizer.M, b.RewardModel.Optimizer.M);
            Assert.Equal(a.RewardModel.Optimizer.Step, b.RewardModel.Optimizer.Step);
            var other = new R2MRewardModel(new R2MHead(new R2MHeadConfig(5, 4, 4)), new RewardModelOptions());
            Assert.Contains("head 5x4x8x2x", Assert.ThrowsAny<CheckpointException>(() => other.LoadCheckpoint(path)).Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
