using R2M.Api.V1;
using R2M.Models;

namespace R2M.Server.Tests;

/// <summary>The diagnostics OptimizeReply carries, checked against computations made outside the server.</summary>
public sealed class OptimizeStatsTests
{
    /// <summary>Entropy of softmax(z), z = logits / temperature, in double: logsumexp(z) - sum_i p_i z_i.</summary>
    private static double Entropy(ReadOnlySpan<float> logits, float temperature)
    {
        var z = new double[logits.Length];
        for (var i = 0; i < z.Length; i++) z[i] = logits[i] / (double)temperature;
        var max = z.Max();
        var p = z.Select(x => Math.Exp(x - max)).ToArray();
        var sum = p.Sum();
        double expected = 0;
        for (var i = 0; i < z.Length; i++) expected += p[i] / sum * z[i];
        return max + Math.Log(sum) - expected;
    }

    [Fact]
    public async Task Optimize_OneEpoch_EntropyIsTheMeanOverResponseTokensOfTheStartingPolicy()
    {
        const float temperature = 0.8f;
        await using var server = await TestServer.StartAsync();
        var request = new GenerateRequest
        {
            SamplesPerPrompt = 3,
            Sampling = new SamplingParams { MaxNewTokens = 6, Seed = 3, Temperature = temperature },
            Prompts = { new Prompt { Text = "sort 4 1 3 =" }, new Prompt { Text = "sort 9 =" } },
        };
        var rollouts = await server.GenerateAsync(request);
        var batch = new PolicyBatch { Config = new OptimizeConfig { Epochs = 1, LearningRate = 1e-2f } };
        batch.Items.AddRange(rollouts.Select((r, i) => new PolicyItem { RolloutId = r.RolloutId, Advantage = i % 2 == 0 ? 1 : -1 }));
        var reply = await server.OptimizeAsync([batch]);

        // One epoch of one minibatch: its forward ran on the startup weights, i.e. the policy directory's.
        var model = ModelCheckpoint.Load(TestModels.PolicyDir);
        int v = model.Config.VocabSize, tokens = 0;
        double sum = 0;
        foreach (var r in rollouts)
        {
            int[] seq = [.. r.PromptTokenIds, .. r.ResponseTokenIds];
            var logits = model.Forward(seq, default, 1, seq.Length, training: false).Logits.Span;
            for (var t = 0; t < r.ResponseTokenIds.Count; t++)
            {
                sum += Entropy(logits.Slice((r.PromptTokenIds.Count - 1 + t) * v, v), temperature);
            }

            tokens += r.ResponseTokenIds.Count;
        }

        Assert.True(reply.HasEntropy, "OptimizeReply.entropy is absent");
        Assert.True(float.IsFinite(reply.Entropy) && reply.Entropy >= 0 && reply.Entropy <= MathF.Log(v), $"entropy {reply.Entropy} outside [0, ln {v}]");
        var expected = sum / tokens;
        Assert.True(Math.Abs(reply.Entropy - expected) <= 1e-5 * Math.Max(1, expected), $"entropy {reply.Entropy:R}, expected {expected:R} over {tokens} tokens");
        Assert.Equal((ulong)tokens, reply.Tokens);
    }
}
