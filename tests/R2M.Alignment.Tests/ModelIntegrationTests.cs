using R2M.Models;

namespace R2M.Alignment.Tests;

/// <summary>The loop on real R2M.Models transformers (tiny, random): GPT-NeoX policy, Llama reward model of another width.</summary>
public sealed class ModelIntegrationTests
{
    internal static TransformerModel Policy(int seed)
    {
        var cfg = ModelConfig.Parse("""{"model_type":"gpt_neox","vocab_size":12,"hidden_size":16,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":32,"rotary_pct":0.5,"use_parallel_residual":true,"eos_token_id":0,"max_position_embeddings":64}""");
        var m = TransformerModel.Create(cfg);
        m.InitializeRandom(seed, 0.2f);
        return m;
    }

    internal static TransformerModel RewardBackbone(int seed)
    {
        var cfg = ModelConfig.Parse("""{"model_type":"llama","architectures":["LlamaForSequenceClassification"],"num_labels":1,"vocab_size":12,"hidden_size":24,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":32,"hidden_act":"silu","rms_norm_eps":1e-6,"max_position_embeddings":64}""");
        var m = TransformerModel.Create(cfg);
        m.InitializeRandom(seed, 0.3f);
        return m;
    }

    private static R2MTrainer Trainer(AlignmentVariant v, out TransformerModel rmModel, float rmLr = 1e-3f, int maxNewTokens = 5, int policySeed = 1, ulong seed = 9)
    {
        var policy = new TransformerPolicy(Policy(policySeed));
        rmModel = RewardBackbone(2);
        var rte = new TransformerRteSource(rmModel);
        var (w, b, hasBias) = rte.ScoringHead();
        var head = new R2MHead(new R2MHeadConfig(24, 16, 8, Heads: 1, PhiBias: hasBias));
        head.Initialize(w, b, seed: 3, initStd: 0.1f);
        var rm = new R2MRewardModel(head, new RewardModelOptions(v, TotalSteps: 4, OmegaFloor: 0.6f, Optimizer: new AdamWOptions(rmLr)));
        var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 2, Temperature: 0.7f,
            Loss: new PolicyLossOptions(Beta: 0.04f), Optimizer: new AdamWOptions(1e-3f)));
        return new R2MTrainer(opt, new TransformerPolicy(Policy(1)), rte, rm, new TrainerOptions(GroupSize: 3, MaxNewTokens: maxNewTokens, Seed: seed));
    }

    [Fact]
    public void SampleGroup_LogProbsAndHiddenMatchTeacherForcedForward()
    {
        var policy = new TransformerPolicy(Policy(4));
        int[] prompt = [3, 5, 7];
        var samples = policy.SampleGroup(prompt, 3, 6, 0.7f, seed: 42);
        var pass = policy.Forward(samples.Select(s => (prompt, s.Completion)).ToList(), 0.7f, keepActivations: false);
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            Assert.Equal(prompt.Length + s.Completion.Length - 1, s.HiddenRows);
            Assert.Equal(s.HiddenRows, pass.HiddenRows[i]);
            TestSupport.Close(pass.CompletionLogProbs[i], s.LogProbs.Select(x => (double)x).ToArray(), 1e-4, $"sample {i} logp");
            TestSupport.Close(pass.Hidden[i], s.Hidden.Select(x => (double)x).ToArray(), 1e-4, $"sample {i} hidden");
        }
        // The same seed draws the same group.
        var again = policy.SampleGroup(prompt, 3, 6, 0.7f, seed: 42);
        Assert.Equal(samples.Select(s => s.Completion), again.Select(s => s.Completion));
    }

    [Fact]
    public void OmegaOne_ScoreEqualsVanillaHeadAndTheModelsOwnRewardHead()
    {
        var rmModel = RewardBackbone(2);
        var rte = new TransformerRteSource(rmModel);
        var (w, b, hasBias) = rte.ScoringHead();
        var head = new R2MHead(new R2MHeadConfig(24, 16, 8, PhiBias: hasBias));
        head.Initialize(w, b, seed: 3);
        int[] seq = [1, 4, 2, 9, 0];
        var h = rte.ComputeRte(seq);
        var feedback = new float[4 * 16];
        new Random(1).NextBytes(new byte[1]);
        for (int i = 0; i < feedback.Length; i++) feedback[i] = MathF.Sin(i);
        float r0 = head.Score(new RewardInput(h, feedback, 4), OmegaSchedule.Omega(0, 10, 0.6f));
        Assert.Equal(BitConverter.SingleToInt32Bits(head.VanillaScore(h)), BitConverter.SingleToInt32Bits(r0));
        float modelScore = rmModel.Forward(seq, default, 1, seq.Length).Scores.Span[0];
        Assert.Equal(modelScore, r0, 1e-5f);
    }

    [Fact]
    public void TrainStep_RealModels_R2MLoopRunsAndUpdatesTheHead()
    {
        var trainer = Trainer(AlignmentVariant.R2M, out _);
        var before = (float[])trainer.RewardModel.Head.Parameters.Clone();
        var policyBefore = trainer.Policy.Policy.Parameters.ToArray();
        int[][] prompts = [[3, 4], [5, 6, 7]];
        for (int i = 0; i < 3; i++)
        {
            var r = trainer.TrainStep(prompts);
            Assert.True(float.IsFinite(r.MeanReward) && float.IsFinite(r.Reward.Before.Loss) && float.IsFinite(r.Policy.LastEpochLoss));
            // On-policy first pass: the surrogate is -mean(A) = 0, plus beta * KL >= 0 (exactly 0 on step 0, policy == reference).
            if (i == 0) Assert.True(Math.Abs(r.Policy.FirstEpochLoss) < 1e-4f, $"on-policy first epoch loss {r.Policy.FirstEpochLoss}");
            else Assert.True(r.Policy.FirstEpochLoss > -1e-4f, $"first epoch loss {r.Policy.FirstEpochLoss} below the KL floor");
            Assert.True(r.Reward.Updated);
        }
        Assert.NotEqual(before, trainer.RewardModel.Head.Parameters);
        Assert.NotEqual(policyBefore, trainer.Policy.Policy.Parameters.ToArray());
        Assert.True(trainer.Policy.Optimize(trainer.LastRollouts, new float[trainer.LastRollouts.Count], refreshHidden: false).Kl > 0f);
    }

    [Fact]
    public void RewardUpdate_RealModels_RepeatedGrebtOnOneBatchLowersTheLoss()
    {
        var trainer = Trainer(AlignmentVariant.R2M, out _, rmLr: 1e-2f);
        int[][] prompts = [[3, 4], [5, 6, 7]];
        for (int i = 0; i < 3; i++) trainer.TrainStep(prompts); // t = 3 of T = 4: omega at the floor, attention live
        TrainerTests.AssertRepeatedUpdatesLowerGrebt(trainer, updates: 20);
    }

    [Fact]
    public void TrainStep_LengthOnePromptAndCompletion_OneFeedbackRow()
    {
        // x and y of one token each: S = 2, so the policy feedback is a single hidden row.
        var trainer = Trainer(AlignmentVariant.R2M, out _, maxNewTokens: 1);
        int[][] prompts = [[3], [5]];
        for (int i = 0; i < 2; i++)
        {
            var r = trainer.TrainStep(prompts);
            Assert.All(trainer.LastRollouts, x => Assert.Equal((1, 1, 16), (x.Completion.Length, x.HiddenRows, x.Hidden.Length)));
            Assert.True(float.IsFinite(r.Reward.Before.Loss) && float.IsFinite(r.Policy.LastEpochLoss));
        }
    }

    [Fact]
    public void KillAndResume_RealModels_ContinuesBitForBit()
    {
        using var dir = new TempDir();
        int[][] prompts = [[3, 4], [5, 6, 7]];
        var straight = Trainer(AlignmentVariant.R2M, out _);
        var sr = Enumerable.Range(0, 3).Select(_ => straight.TrainStep(prompts)).ToList();
        var first = Trainer(AlignmentVariant.R2M, out _);
        first.TrainStep(prompts);
        var path = dir.File("t1.safetensors");
        first.SaveCheckpoint(path);
        var resumed = Trainer(AlignmentVariant.R2M, out _, policySeed: 5, seed: 77); // other weights and seed: all from the file
        resumed.LoadCheckpoint(path);
        var rr = Enumerable.Range(0, 2).Select(_ => resumed.TrainStep(prompts)).ToList();
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(sr[1 + i].MeanReward, rr[i].MeanReward);
            Assert.Equal(sr[1 + i].Policy.LastEpochLoss, rr[i].Policy.LastEpochLoss);
            Assert.Equal(sr[1 + i].Reward.Before.Loss, rr[i].Reward.Before.Loss);
        }
        Assert.Equal(straight.Policy.Policy.Parameters.ToArray(), resumed.Policy.Policy.Parameters.ToArray());
        Assert.Equal(straight.RewardModel.Head.Parameters, resumed.RewardModel.Head.Parameters);
    }
}
