using R2M.Models.Safetensors;

namespace R2M.Alignment.Tests;

public sealed class CheckpointTests
{
    [Theory]
    [InlineData(AlignmentVariant.R2M)]
    [InlineData(AlignmentVariant.WithNoise)]
    public void KillAndResume_ContinuesBitForBit(AlignmentVariant v)
    {
        using var dir = new TempDir();
        var (straight, sp, _) = TrainerTests.Build(v, beta: 0.04f, miniBatch: 3);
        var straightReports = Enumerable.Range(0, 4).Select(i => straight.TrainStep(TrainerTests.Prompts(i))).ToList();

        var (first, _, _) = TrainerTests.Build(v, beta: 0.04f, miniBatch: 3);
        first.TrainStep(TrainerTests.Prompts(0));
        first.TrainStep(TrainerTests.Prompts(1));
        var path = dir.File("step2.safetensors");
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
        Assert.Equal(["step2.safetensors"], Directory.GetFiles(dir.Root).Select(Path.GetFileName)); // no temp file left behind
    }

    [Fact]
    public void LoadCheckpoint_WrongVariantOrTruncated_ClearErrorAndTrainerUntouched()
    {
        using var dir = new TempDir();
        var (a, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
        var path = dir.File("a.safetensors");
        a.SaveCheckpoint(path);
        var (b, bp, _) = TrainerTests.Build(AlignmentVariant.Vanilla, policySeed: 3);
        var before = bp.Parameters.ToArray();
        Assert.Contains("variant R2M, expected Vanilla", Assert.Throws<InvalidDataException>(() => b.LoadCheckpoint(path)).Message);
        var bytes = File.ReadAllBytes(path);
        var cut = dir.File("cut.safetensors");
        File.WriteAllBytes(cut, bytes[..(bytes.Length - 10)]);
        var (c, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
        Assert.Contains("truncated", Assert.Throws<SafetensorsException>(() => c.LoadCheckpoint(cut)).Message);
        Assert.Equal(before, bp.Parameters.ToArray());
    }

    [Fact]
    public void RewardModelCheckpoint_RoundTripsAndRejectsOtherHeadShape()
    {
        using var dir = new TempDir();
        var (a, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
        a.TrainStep(TrainerTests.Prompts(0));
        var path = dir.File("rm.safetensors");
        a.RewardModel.SaveCheckpoint(path);
        var (b, _, _) = TrainerTests.Build(AlignmentVariant.R2M);
        b.RewardModel.LoadCheckpoint(path);
        Assert.Equal(a.RewardModel.Head.Parameters, b.RewardModel.Head.Parameters);
        Assert.Equal(a.RewardModel.Optimizer.M, b.RewardModel.Optimizer.M);
        Assert.Equal(a.RewardModel.Optimizer.Step, b.RewardModel.Optimizer.Step);
        var other = new R2MRewardModel(new R2MHead(new R2MHeadConfig(5, 4, 4)), new RewardModelOptions());
        Assert.Contains("head 5x4x8x2x", Assert.Throws<InvalidDataException>(() => other.LoadCheckpoint(path)).Message);
    }

    [Fact]
    public void CheckpointState_RngWithBoxMullerSpare_RoundTripsThroughTheFile()
    {
        using var dir = new TempDir();
        var rng = new R2M.Tensors.Rng(42);
        rng.NextNormal(); // odd number of normals drawn: the second Box-Muller value is cached
        Assert.True(rng.GetState().HasSpare);
        var s = new CheckpointState();
        s.WriteRng("r", rng.GetState());
        s.Counters["big"] = [ulong.MaxValue, 0, 12345];
        s.Tensors["x"] = [1.5f, float.Epsilon, -0f];
        s.Metadata["note"] = "kept";
        var path = dir.File("s.safetensors");
        s.Save(path);
        var back = CheckpointState.Load(path);
        var restored = new R2M.Tensors.Rng(1);
        restored.SetState(back.ReadRng("r"));
        for (int i = 0; i < 5; i++) Assert.Equal(rng.NextNormal(), restored.NextNormal());
        Assert.Equal([ulong.MaxValue, 0UL, 12345UL], back.Counter("big", 3));
        Assert.Equal(s.Tensors["x"], back.Tensor("x", 3));
        Assert.Equal("kept", back.Metadata["note"]);
        Assert.DoesNotContain(back.Metadata.Keys, k => k.StartsWith(CheckpointState.CounterPrefix, StringComparison.Ordinal));
        Assert.Contains("counter 'big' has 3 words, expected 6", Assert.Throws<InvalidDataException>(() => back.ReadRng("big")).Message);
        Assert.Contains("tensor 'missing' missing", Assert.Throws<InvalidDataException>(() => back.Tensor("missing", 1)).Message);
    }
}
