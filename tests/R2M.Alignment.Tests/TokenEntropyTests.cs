using R2M.Models;

namespace R2M.Alignment.Tests;

/// <summary>Per-token policy entropy: the stable row formula, and the mean PolicyOptimizer reports from its last epoch.</summary>
public sealed class TokenEntropyTests
{
    /// <summary>H = -sum p log p in double with log p = z - logsumexp(z), z = x / temperature: the textbook form, not the shifted dot product.</summary>
    internal static double Direct(ReadOnlySpan<float> logits, float temperature)
    {
        var z = new double[logits.Length];
        for (int i = 0; i < z.Length; i++) z[i] = (double)logits[i] / temperature;
        double m = z.Max(), s = 0;
        foreach (var x in z) s += Math.Exp(x - m);
        double lse = m + Math.Log(s), h = 0;
        foreach (var x in z) h -= Math.Exp(x - lse) * (x - lse);
        return h;
    }

    private static void Near(float actual, double expected, string what) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * Math.Max(1, Math.Abs(expected)), $"{what}: got {actual:R}, expected {expected:R}");

    public static TheoryData<int, float, float, float> RandomRows => new()
    {
        // vocab, scale of the random part, offset added to every logit, temperature
        { 7, 1f, 0f, 1f },
        { 70, 3f, 0f, 0.7f },
        { 1000, 2f, 1e4f, 1f },   // exp(1e4) overflows: only the max-shifted form survives
        { 1000, 2f, -1e4f, 0.7f },
        { 513, 1e4f, 0f, 1f },    // gaps of ~1e4 between logits: nearly one-hot
        { 1, 1f, 5f, 1f },        // a one-token vocabulary has entropy 0
    };

    [Theory]
    [MemberData(nameof(RandomRows))]
    public void Row_RandomLogits_MatchesDirectFormula(int vocab, float scale, float offset, float temperature)
    {
        var rng = new Random(vocab);
        var logits = new float[3 * vocab];
        for (int i = 0; i < logits.Length; i++) logits[i] = offset + scale * (float)(2 * rng.NextDouble() - 1);
        var h = new float[3];
        TokenEntropy.Rows(logits, 3, vocab, temperature, h);
        for (int n = 0; n < 3; n++)
        {
            var row = logits.AsSpan(n * vocab, vocab);
            double expected = Direct(row, temperature);
            Near(h[n], expected, $"row {n} (V {vocab}, offset {offset}, scale {scale})");
            Assert.InRange(h[n], 0f, MathF.Log(vocab));
            Assert.Equal(h[n], TokenEntropy.Row(row, temperature, new float[2 * vocab]));
        }
    }

    [Fact]
    public void Row_OneHotLikeLogits_EntropyZero()
    {
        var logits = new float[50];
        logits[17] = 1e4f;
        // Exactly 0 in exact arithmetic; TensorPrimitives.Exp(0) may be 1 ulp off 1, which leaves ln(sum e) ~ 1e-7.
        Assert.InRange(TokenEntropy.Row(logits, 1f, new float[100]), 0f, 2e-7f);
        logits[17] = 40f; // p = 1 - 49 e^-40: entropy ~ 2e-15, zero in float
        Assert.True(TokenEntropy.Row(logits, 1f, new float[100]) is >= 0f and < 1e-6f);
    }

    [Theory]
    [InlineData(2, 0f)]
    [InlineData(12, 1e4f)]
    [InlineData(50_257, -3.25f)]
    public void Row_UniformLogits_EntropyLnV(int vocab, float value)
    {
        var logits = Enumerable.Repeat(value, vocab).ToArray();
        Near(TokenEntropy.Row(logits, 0.7f, new float[2 * vocab]), Math.Log(vocab), $"uniform V {vocab}");
    }

    [Fact]
    public void Rows_BadArguments_ClearErrors()
    {
        Assert.Contains("N*V = 6", Assert.Throws<ArgumentException>(() => TokenEntropy.Rows(new float[5], 2, 3, 1f, new float[2])).Message);
        Assert.Contains("expected N = 2", Assert.Throws<ArgumentException>(() => TokenEntropy.Rows(new float[6], 2, 3, 1f, new float[1])).Message);
        Assert.Contains("2V = 6", Assert.Throws<ArgumentException>(() => TokenEntropy.Row(new float[3], 1f, new float[5])).Message);
        Assert.Contains("temperature", Assert.Throws<ArgumentOutOfRangeException>(() => TokenEntropy.Row(new float[3], 0f, new float[6])).Message);
        Assert.Contains("empty", Assert.Throws<ArgumentException>(() => TokenEntropy.Row([], 1f, [])).Message);
    }

    /// <summary>Six rollouts of the tiny GPT-NeoX policy from two prompts of different lengths, completions of up to 5 and 3 tokens.</summary>
    private static List<Rollout> Rollouts(TransformerPolicy policy, float temperature)
    {
        var list = new List<Rollout>();
        int[][] prompts = [[3, 4], [5, 6, 7]];
        for (int i = 0; i < prompts.Length; i++)
        {
            var samples = policy.SampleGroup(prompts[i], 3, 5 - 2 * i, temperature, seed: (ulong)(11 + i));
            list.AddRange(samples.Select((s, j) => new Rollout
            {
                Id = $"{i}-{j}", Prompt = prompts[i], Completion = s.Completion, OldLogProbs = s.LogProbs, Hidden = s.Hidden, HiddenRows = s.HiddenRows,
            }));
        }
        return list;
    }

    /// <summary>Mean direct entropy over the completion tokens of rollouts, each from its own batch-1 forward (no padding).</summary>
    private static double MeanEntropy(TransformerModel model, IEnumerable<Rollout> rollouts, float temperature)
    {
        double sum = 0;
        int tokens = 0, v = model.Config.VocabSize;
        foreach (var r in rollouts)
        {
            var seq = r.Sequence();
            var logits = model.Forward(seq, default, 1, seq.Length, training: false).Logits.Span;
            for (int t = 0; t < r.Completion.Length; t++) sum += Direct(logits.Slice((r.Prompt.Length - 1 + t) * v, v), temperature);
            tokens += r.Completion.Length;
        }
        return sum / tokens;
    }

    [Fact]
    public void Optimize_MiniBatches_EntropyIsTheMeanOfMiniBatchTokenMeans()
    {
        // Learning rate 0: every pass sees the same weights, so the expectation is the per-minibatch token
        // mean (minibatches of 2 in rollout order, with different token counts) averaged over minibatches.
        const float temp = 0.7f;
        var model = ModelIntegrationTests.Policy(4);
        var policy = new TransformerPolicy(model);
        var rollouts = Rollouts(policy, temp);
        var opt = new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 2, MiniBatchSize: 2, Temperature: temp, Optimizer: new AdamWOptions(0f)));
        var res = opt.Optimize(rollouts, [1f, -1f, 0.5f, -0.5f, 0.25f, -0.25f], refreshHidden: false);
        double expected = Enumerable.Range(0, 3).Average(m => MeanEntropy(model, rollouts.Skip(2 * m).Take(2), temp));
        Assert.NotNull(res.Entropy);
        Near(res.Entropy.Value, expected, "minibatch-mean entropy");
        Assert.InRange(res.Entropy.Value, 0f, MathF.Log(model.Config.VocabSize));
        Assert.True(rollouts.Select(r => r.Completion.Length).Distinct().Count() > 1, "completions of one length would not test the token weighting");
    }

    [Fact]
    public void Optimize_TwoEpochs_EntropyComesFromTheLastEpochsForward()
    {
        // One minibatch per epoch: the last epoch's forward runs on the weights after exactly one step,
        // which a second policy reproduces by taking that one step alone.
        const float temp = 0.7f;
        var options = new PolicyOptimizerOptions(Epochs: 2, Temperature: temp, Optimizer: new AdamWOptions(0.05f));
        float[] adv = [1f, -1f, 0.5f, -0.5f, 0.25f, -0.25f];
        var twoEpochs = new TransformerPolicy(ModelIntegrationTests.Policy(4));
        var rollouts = Rollouts(twoEpochs, temp);
        double before = MeanEntropy(twoEpochs.Model, rollouts, temp);
        var res = new PolicyOptimizer(twoEpochs, options).Optimize(rollouts, adv, refreshHidden: false);

        var oneStep = new TransformerPolicy(ModelIntegrationTests.Policy(4));
        new PolicyOptimizer(oneStep, options with { Epochs = 1 }).Optimize(rollouts, adv, refreshHidden: false);
        double expected = MeanEntropy(oneStep.Model, rollouts, temp);
        Near(res.Entropy!.Value, expected, "last-epoch entropy");
        Assert.True(Math.Abs(expected - before) > 1e-3, $"one step moved the entropy only from {before} to {expected}: the test could not tell the epochs apart");
    }

    [Fact]
    public void Optimize_PolicyWithoutEntropies_EntropyNull()
    {
        var policy = new ToyPolicy(6, 4, 3);
        var samples = policy.SampleGroup([1], 2, 3, 1f, seed: 5);
        var rollouts = samples.Select((s, j) => new Rollout { Id = $"{j}", Prompt = [1], Completion = s.Completion, OldLogProbs = s.LogProbs, Hidden = s.Hidden, HiddenRows = s.HiddenRows }).ToList();
        Assert.Null(new PolicyOptimizer(policy, new PolicyOptimizerOptions(Epochs: 1)).Optimize(rollouts, [1f, -1f], refreshHidden: false).Entropy);
    }
}
