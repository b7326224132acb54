namespace R2M.Alignment.Tests;

/// <summary>Full-parameter policy training: epochs x minibatches, clipping, LR schedule, hidden-state refresh.</summary>
public sealed class PolicyOptimizerTests
{
    private const int Vocab = 6, Dim = 4;

    /// <summary>Eight rollouts of the toy policy (two prompts, K = 4) with fixed advantages.</summary>
    private static (List<Rollout> Rollouts, float[] Advantages) Batch(ToyPolicy policy)
    {
        var list = new List<Rollout>();
        int[][] prompts = [[1], [2]];
        for (int i = 0; i < prompts.Length; i++)
        {
            var samples = policy.SampleGroup(prompts[i], 4, 4, 1f, seed: (ulong)(17 + i));
            for (int j = 0; j < samples.Count; j++)
            {
                var s = samples[j];
                list.Add(new Rollout { Id = $"{i}-{j}", Prompt = prompts[i], Completion = s.Completion, OldLogProbs = s.LogProbs, Hidden = s.Hidden, HiddenRows = s.HiddenRows });
            }
        }
        float[] adv = [1f, -0.5f, 0.25f, -0.75f, -1f, 0.5f, 1.5f, -1f];
        return (list, adv);
    }

    private static List<Rollout> Copy(List<Rollout> rollouts) =>
        [.. rollouts.Select(r => new Rollout { Id = r.Id, Prompt = r.Prompt, Completion = r.Completion, OldLogProbs = r.OldLogProbs, Hidden = r.Hidden, HiddenRows = r.HiddenRows })];

    private static double UpdateNorm(ReadOnlySpan<float> before, ReadOnlySpan<float> after)
    {
        double s = 0;
        for (int i = 0; i < before.Length; i++) s += (double)(after[i] - before[i]) * (after[i] - before[i]);
        return Math.Sqrt(s);
    }

    [Fact]
    public void Optimize_GradClip_BoundsTheUpdate()
    {
        // With Adam epsilon 1 the first step is lr * g / (|g| + 1) per coordinate, so its norm is at most
        // lr * ||g||: clipping g to norm c bounds the step by lr * c, while the unclipped step is far larger.
        double Run(float clip, out PolicyUpdateResult res)
        {
            var policy = new ToyPolicy(Vocab, Dim, 3);
            var (rollouts, adv) = Batch(policy);
            var before = policy.Parameters.ToArray();
            var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 1, GradClip: clip, Optimizer: new AdamWOptions(0.1f, Epsilon: 1f)));
            res = opt.Optimize(rollouts, adv, refreshHidden: false);
            return UpdateNorm(before, policy.Parameters);
        }
        const float c = 1e-3f;
        double clipped = Run(c, out var rc), free = Run(0f, out var rf);
        Assert.True(rc.GradNorm > 10 * c, $"gradient norm {rc.GradNorm} should exceed the clip so the test means something");
        Assert.Equal(rf.GradNorm, rc.GradNorm); // the reported norm is the one before clipping
        Assert.True(clipped <= 0.1 * c * 1.001, $"clipped step {clipped} > lr * c");
        Assert.True(free > 10 * clipped, $"unclipped step {free} vs clipped {clipped}");
    }

    [Fact]
    public void Optimize_LrSchedule_WarmupScalesTheFirstStep()
    {
        // Adam's first step moves every coordinate with a gradient by lr (|m / sqrt(v)| = 1), so the
        // largest move is the scheduled lr: base / (warmup + 1) at step 0.
        float MaxMove(LrSchedule schedule)
        {
            var policy = new ToyPolicy(Vocab, Dim, 3);
            var (rollouts, adv) = Batch(policy);
            var before = policy.Parameters.ToArray();
            new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 1, GradClip: 0f, Optimizer: new AdamWOptions(0.08f, Epsilon: 1e-12f), Schedule: schedule))
                .Optimize(rollouts, adv, refreshHidden: false);
            return before.Select((b, i) => Math.Abs(policy.Parameters[i] - b)).Max();
        }
        Assert.Equal(0.08f, MaxMove(new LrSchedule()), 1e-4f);
        Assert.Equal(0.02f, MaxMove(new LrSchedule(LrScheduleKind.Constant, WarmupSteps: 3, TotalSteps: 10)), 1e-4f);
    }

    [Fact]
    public void Optimize_EpochsTimesMinibatches_OptimizerSteps()
    {
        var policy = new ToyPolicy(Vocab, Dim, 3);
        var (rollouts, adv) = Batch(policy);
        var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 3, MiniBatchSize: 3, Optimizer: new AdamWOptions(0.01f)));
        var res = opt.Optimize(rollouts, adv, refreshHidden: false);
        Assert.Equal(3 * 3, res.OptimizerSteps); // ceil(8 / 3) = 3 minibatches per epoch
        Assert.Equal(9, opt.Optimizer.Step);
        // One teacher-forced pass per minibatch, no extra pass for h'; then one one-sequence check of the updated policy.
        Assert.Equal((3 * 3) + 1, policy.ForwardCalls);
    }

    [Fact]
    public void Optimize_LastEpochHidden_IsThatEpochsForwardPass()
    {
        // Two epochs, whole batch per step: the last epoch's forward runs on the parameters after the
        // first step, so h' must equal the hidden states of a policy that took exactly that one step.
        var twoEpochs = new ToyPolicy(Vocab, Dim, 3);
        var (rollouts, adv) = Batch(twoEpochs);
        var original = rollouts.Select(r => r.Hidden).ToList();
        var options = new PolicyOptimizerOptions(Epochs: 2, Optimizer: new AdamWOptions(0.05f));
        new PolicyOptimizer(twoEpochs, options).Optimize(rollouts, adv, refreshHidden: true);

        var oneEpoch = new ToyPolicy(Vocab, Dim, 3);
        var copy = Copy(rollouts);
        new PolicyOptimizer(oneEpoch, options with { Epochs = 1 }).Optimize(copy, adv, refreshHidden: false);
        var expected = oneEpoch.Forward([.. copy.Select(r => (r.Prompt, r.Completion))], 1f, false);
        for (int i = 0; i < rollouts.Count; i++)
        {
            Assert.Equal(expected.Hidden[i], rollouts[i].Hidden);
            Assert.Equal(expected.HiddenRows[i], rollouts[i].HiddenRows);
            Assert.NotEqual(original[i], rollouts[i].Hidden);
        }
    }

    [Fact]
    public void Optimize_NoRefresh_KeepsSamplingHiddenStates()
    {
        var policy = new ToyPolicy(Vocab, Dim, 3);
        var (rollouts, adv) = Batch(policy);
        var original = rollouts.Select(r => r.Hidden).ToList();
        new PolicyOptimizer(policy, new PolicyOptimizerOptions(Optimizer: new AdamWOptions(0.05f))).Optimize(rollouts, adv, refreshHidden: false);
        Assert.Equal(original, rollouts.Select(r => r.Hidden));
    }

    [Fact]
    public void Optimize_BadArguments_ClearErrors()
    {
        var policy = new ToyPolicy(Vocab, Dim, 3);
        var (rollouts, adv) = Batch(policy);
        var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(Loss: new PolicyLossOptions(Beta: 0.1f)));
        Assert.Contains("reference log-probs", Assert.Throws<ArgumentException>(() => opt.Optimize(rollouts, adv, false)).Message);
        Assert.Contains("8 rollouts", Assert.Throws<ArgumentException>(() => opt.Optimize(rollouts, adv.AsSpan(1).ToArray(), false)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 0)));
    }
}
