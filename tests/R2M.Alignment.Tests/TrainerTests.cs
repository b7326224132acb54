namespace R2M.Alignment.Tests;

public sealed class TrainerTests
{
    private const int Vocab = 6, Dp = 4, Drm = 5, Good = 3;

    /// <summary>Toy setup: reward = phi · mean(F[tok]); phi = F[Good], so emitting token 3 pays.</summary>
    internal static (R2MTrainer Trainer, ToyPolicy Policy, ToyBackbone Backbone) Build(
        AlignmentVariant variant, int policySeed = 11, float rmLr = 1e-2f, float beta = 0f, int miniBatch = 0, ulong seed = 7, int referenceSeed = 11)
    {
        var policy = new ToyPolicy(Vocab, Dp, policySeed);
        var backbone = new ToyBackbone(Vocab, Drm, 3);
        var head = new R2MHead(new R2MHeadConfig(Drm, Dp, AttnDim: 8, Heads: 2));
        head.Initialize(backbone.Row(Good), 0f, seed: 5, initStd: 0.3f);
        var rm = new R2MRewardModel(head, new RewardModelOptions(variant, TotalSteps: 10, OmegaFloor: 0.6f, Optimizer: new AdamWOptions(rmLr, WeightDecay: 0.01f)));
        var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(
            Epochs: 2, MiniBatchSize: miniBatch, Temperature: 1f,
            Loss: new PolicyLossOptions(Beta: beta), Optimizer: new AdamWOptions(0.05f),
            GradClip: 1f, Schedule: new LrSchedule(LrScheduleKind.Cosine, WarmupSteps: 1, TotalSteps: 40)));
        // The frozen reference is the starting (SFT) policy, loaded from its own source, not from checkpoints.
        var reference = beta != 0 ? new ToyPolicy(Vocab, Dp, referenceSeed) : null;
        var trainer = new R2MTrainer(opt, reference, backbone, rm, new TrainerOptions(GroupSize: 4, MaxNewTokens: 4, Seed: seed));
        return (trainer, policy, backbone);
    }

    internal static int[][] Prompts(long step) => [[1 + (int)(step % 2)], [2]];

    [Fact]
    public void TrainStep_ToyReward_PolicyLearnsAndLossBehaves()
    {
        var (trainer, _, _) = Build(AlignmentVariant.R2M);
        var reports = Enumerable.Range(0, 10).Select(i => trainer.TrainStep(Prompts(i))).ToList();
        foreach (var r in reports)
        {
            // Whole batch per minibatch, on-policy first pass: rho = 1, so the grpo loss is -mean(A) = 0
            // (group-centred advantages) and the last epoch, after one step along the gradient, is lower.
            Assert.True(Math.Abs(r.Policy.FirstEpochLoss) < 1e-5f, $"step {r.Step}: first-epoch loss {r.Policy.FirstEpochLoss}");
            Assert.True(r.Policy.LastEpochLoss < r.Policy.FirstEpochLoss, $"step {r.Step}: {r.Policy.LastEpochLoss} !< {r.Policy.FirstEpochLoss}");
            Assert.True(r.MeanSeam is null or (>= 0f and <= 2f));
        }
        float early = (reports[0].MeanReward + reports[1].MeanReward) / 2, late = (reports[^1].MeanReward + reports[^2].MeanReward) / 2;
        Assert.True(late > early, $"toy reward did not rise: {early} -> {late}");
        Assert.Equal(1f, reports[0].Omega);
        Assert.Equal(0.6f, reports[^1].Omega);
    }

    [Fact]
    public void RewardUpdate_RepeatedOnOneBatch_GrebtLossDecreases()
    {
        var (trainer, _, _) = Build(AlignmentVariant.R2M);
        for (int i = 0; i < 4; i++) trainer.TrainStep(Prompts(i)); // omega now below 1: attention is live
        AssertRepeatedUpdatesLowerGrebt(trainer, updates: 15);
    }

    /// <summary>GREBT updates on the last step's rollouts (refreshed h', annotation rewards pick the pairs) must lower the loss.</summary>
    internal static void AssertRepeatedUpdatesLowerGrebt(R2MTrainer trainer, int updates)
    {
        var items = trainer.Inputs(trainer.LastRollouts);
        var ann = trainer.LastRollouts.Select(r => r.AnnotationReward).ToArray();
        int k = trainer.Options.GroupSize;
        long t = trainer.Step;
        var losses = Enumerable.Range(0, updates).Select(_ => trainer.RewardModel.Update(items, ann, k, t).Before.Loss).ToList();
        Assert.True(losses[^1] < losses[0] - 1e-3f, $"GREBT loss {losses[0]} -> {losses[^1]}");
    }

    [Fact]
    public void TrainStep_RescoringReusesCachedRte_BackboneRunsOncePerRollout()
    {
        var (trainer, _, backbone) = Build(AlignmentVariant.R2M);
        trainer.TrainStep(Prompts(0));
        trainer.TrainStep(Prompts(1));
        Assert.Equal(2 * 2 * 4, backbone.Calls); // 2 steps x 2 prompts x K = 4, despite scoring twice per step
        Assert.True(trainer.Cache.Hits >= 16);
    }

    [Fact]
    public void TrainStep_LastEpochRefreshesHiddenStates()
    {
        var (trainer, _, _) = Build(AlignmentVariant.R2M);
        trainer.TrainStep(Prompts(0));
        var r = trainer.LastRollouts[0];
        // After the step the stored h' came from a teacher-forced pass of the policy in the last epoch,
        // i.e. before that epoch's update: recomputing with the final parameters differs (toy policy moved).
        var now = ((ToyPolicy)trainer.Policy.Policy).Forward([(r.Prompt, r.Completion)], 1f, false).Hidden[0];
        Assert.Equal(r.HiddenRows * Dp, r.Hidden.Length);
        Assert.NotEqual(now, r.Hidden);
    }

    [Fact]
    public void TrainStep_WithKlBetaAndMinibatches_RunsAndReportsKl()
    {
        var (trainer, _, _) = Build(AlignmentVariant.R2M, beta: 0.04f, miniBatch: 3);
        StepReport? last = null;
        for (int i = 0; i < 4; i++) last = trainer.TrainStep(Prompts(i));
        Assert.True(last!.Policy.Kl > 0f, "policy moved away from the reference, so k3 KL must be positive");
        Assert.Equal(2 * 3, last.Policy.OptimizerSteps); // 8 rollouts in minibatches of 3 -> 3 steps per epoch, 2 epochs
    }
}
