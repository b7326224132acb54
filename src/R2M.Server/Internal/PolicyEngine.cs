using R2M.Alignment;
using R2M.Api.V1;
using R2M.Models;
using R2M.Models.Generation;

namespace R2M.Server.Internal;

/// <summary>One sampled response with the hidden states of prompt + response ((Rows, D_p), Rows = S - 1).</summary>
internal sealed record SampledResponse(int PromptIndex, int SampleIndex, int[] Prompt, int[] Response, float[] Logprobs, FinishReason Finish, float[] Hidden, int Rows);

/// <summary>Sampling settings after validation. MaxNewTokens holds one value per prompt (capped to the context).</summary>
internal sealed record SamplingSettings(float Temperature, int TopK, float TopP, int[] MaxNewTokens, ulong Seed, string[] Stop, int[] StopTokenIds);

/// <summary>
/// Sampling (docs/method.md section 1 step 2) on the hosted policy with R2M.Models' batched KV-cache
/// generator: the K samples of every prompt decode as one batch, and the generator returns the
/// final post-norm hidden states of prompt + response (the h that Score feeds to the cross-attention).
/// </summary>
internal static class PolicyEngine
{
    /// <summary>Samples K responses per prompt from <paramref name="weights"/> (tokenizer and limits from <paramref name="policy"/>). The caller holds the policy gate.</summary>
    public static List<SampledResponse> Generate(HostedModel policy, TransformerModel weights, IReadOnlyList<int[]> prompts, int k, SamplingSettings s, CancellationToken ct)
    {
        var results = new List<SampledResponse>(prompts.Count * k);
        var stops = policy.EosTokenIds.Concat(s.StopTokenIds).Distinct().ToArray();
        // Prompts with the same token budget share one batch (usually all of them).
        foreach (var group in Enumerable.Range(0, prompts.Count).GroupBy(i => s.MaxNewTokens[i]))
        {
            ct.ThrowIfCancellationRequested();
            var indices = group.ToArray();
            var batch = indices.SelectMany(i => Enumerable.Repeat(prompts[i], k)).ToList();
            var options = new GenerationOptions
            {
                MaxNewTokens = group.Key,
                Temperature = s.Temperature,
                TopK = s.TopK,
                TopP = s.TopP,
                Seed = FoldSeed(s.Seed, group.Key),
                StopTokens = stops,
                ReturnHiddenStates = true,
            };
            var res = TextGenerator.Generate(weights, batch, options, ct); // stops within one decode step
            for (var row = 0; row < batch.Count; row++)
            {
                var pi = indices[row / k];
                results.Add(Finish(policy, pi, row % k, prompts[pi], res.Tokens[row], res.LogProbs[row], res.HiddenStates![row], s));
            }
        }

        return [.. results.OrderBy(r => r.PromptIndex).ThenBy(r => r.SampleIndex)];
    }

    /// <summary>Items teacher-forced per forward pass: the logits of a pass are (B, S, V), so the batch is bounded.</summary>
    private const int TeacherForceBatch = 8;

    /// <summary>
    /// Teacher-forced pass over given (prompt, response) pairs (policy.proto TeacherForce): the
    /// response's log-probs at temperature 1 and the S - 1 final hidden states, the same tensors a
    /// sampled rollout carries. The caller holds the policy gate.
    /// </summary>
    public static List<SampledResponse> TeacherForce(TransformerModel weights, IReadOnlyList<(int[] Prompt, int[] Response)> items, CancellationToken ct)
    {
        var forward = new TransformerPolicy(weights);
        var results = new List<SampledResponse>(items.Count);
        for (var start = 0; start < items.Count; start += TeacherForceBatch)
        {
            ct.ThrowIfCancellationRequested();
            var batch = items.Skip(start).Take(TeacherForceBatch).ToList();
            var pass = forward.Forward(batch, temperature: 1f, keepActivations: false);
            for (var i = 0; i < batch.Count; i++)
            {
                results.Add(new SampledResponse(start + i, 0, batch[i].Prompt, batch[i].Response, pass.CompletionLogProbs[i],
                    FinishReason.Unspecified, pass.Hidden[i], pass.HiddenRows[i]));
            }
        }

        return results;
    }

    /// <summary>Applies stop strings (cut right after the first token whose decoded text contains one) and the finish reason.</summary>
    private static SampledResponse Finish(HostedModel policy, int pi, int j, int[] prompt, int[] tokens, float[] logp, float[] hidden, SamplingSettings s)
    {
        var n = tokens.Length;
        var reason = FinishReason.Length;
        if (n > 0 && policy.EosTokenIds.Contains(tokens[^1])) reason = FinishReason.Eos;
        else if (n > 0 && s.StopTokenIds.Contains(tokens[^1])) reason = FinishReason.Stop;
        else if (prompt.Length + n >= policy.ContextLength) reason = FinishReason.Context;
        if (s.Stop.Length > 0)
        {
            for (var cut = 1; cut <= n; cut++)
            {
                var text = policy.Tokenizer.Decode(tokens.AsSpan(0, cut), skipSpecialTokens: true);
                if (s.Stop.Any(x => text.Contains(x, StringComparison.Ordinal)))
                {
                    (n, reason) = (cut, FinishReason.Stop);
                    break;
                }
            }
        }

        var rows = prompt.Length + n - 1;
        var c = policy.Width;
        return new SampledResponse(pi, j, prompt, tokens[..n], logp[..n], reason, hidden.AsSpan(0, rows * c).ToArray(), rows);
    }

    /// <summary>The generator takes an int seed: fold the 64-bit request seed (splitmix64 finalizer) with the batch key.</summary>
    private static int FoldSeed(ulong seed, int key)
    {
        var x = seed + ((ulong)(uint)key * 0x9E3779B97F4A7C15UL);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return (int)(x & 0x7FFFFFFF);
    }
}
