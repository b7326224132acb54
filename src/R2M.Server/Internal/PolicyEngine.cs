using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>One sampled response with the teacher-forced hidden states of prompt + response.</summary>
internal sealed record SampledResponse(int[] Response, float[] Logprobs, FinishReason Finish, float[] Hidden, int Rows);

/// <summary>Sampling settings after validation.</summary>
internal sealed record SamplingSettings(float Temperature, int TopK, float TopP, int MaxNewTokens, ulong Seed, string[] Stop, int[] StopTokenIds);

/// <summary>
/// Sampling (R2M-METHOD.md section 1 step 2) on the hosted policy. Each step runs a full forward
/// over the K growing sequences of one prompt (right-padded rows of finished samples are masked),
/// then one teacher-forced pass gives the last-layer hidden states h (S-1, D_p).
/// </summary>
internal static class PolicyEngine
{
    /// <summary>Samples K responses to <paramref name="prompt"/>. Caller holds the policy gate.</summary>
    public static SampledResponse[] Generate(HostedModel policy, int[] prompt, int k, SamplingSettings s, int promptIndex, CancellationToken ct)
    {
        var m = policy.Model;
        int v = m.Config.VocabSize, p = prompt.Length;
        var seqs = Enumerable.Range(0, k).Select(_ => new List<int>(prompt)).ToArray();
        var logps = Enumerable.Range(0, k).Select(_ => new List<float>()).ToArray();
        var finish = new FinishReason[k];
        var rngs = Enumerable.Range(0, k).Select(j => Sampler.ForSample(s.Seed, promptIndex, j)).ToArray();
        for (var step = 0; step < s.MaxNewTokens && finish.Any(f => f == FinishReason.Unspecified); step++)
        {
            ct.ThrowIfCancellationRequested();
            var t = p + step;
            var (tokens, mask) = Pack(seqs, t, finish, p);
            var res = m.Forward(tokens, mask, k, t);
            var logits = res.Logits.Span;
            for (var j = 0; j < k; j++)
            {
                if (finish[j] != FinishReason.Unspecified) continue;
                var row = logits.Slice(((j * t) + t - 1) * v, v);
                var (tok, lp) = Sampler.Sample(row, s.Temperature, s.TopK, s.TopP, rngs[j]);
                seqs[j].Add(tok);
                logps[j].Add(lp);
                finish[j] = Finished(policy, seqs[j], p, tok, s);
            }
        }

        for (var j = 0; j < k; j++)
        {
            if (finish[j] == FinishReason.Unspecified)
            {
                finish[j] = seqs[j].Count >= policy.ContextLength ? FinishReason.Context : FinishReason.Length;
            }
        }

        var hidden = TeacherForcedHidden(policy, seqs.Select(x => x.ToArray()).ToArray());
        return Enumerable.Range(0, k).Select(j => new SampledResponse(
            seqs[j].Skip(p).ToArray(), logps[j].ToArray(), finish[j], hidden[j].Hidden, hidden[j].Rows)).ToArray();
    }

    /// <summary>
    /// The policy's final hidden states (after the final norm) over each full sequence: rows
    /// 0..S-2, row i being the state that predicts token i + 1. Caller holds the policy gate.
    /// </summary>
    public static (float[] Hidden, int Rows)[] TeacherForcedHidden(HostedModel policy, int[][] sequences)
    {
        int b = sequences.Length, t = sequences.Max(x => x.Length), c = policy.Width;
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (var i = 0; i < b; i++)
        {
            sequences[i].CopyTo(tokens, i * t);
            Array.Fill(mask, 1, i * t, sequences[i].Length);
        }

        var hidden = policy.Model.Forward(tokens, mask, b, t).Hidden.Span;
        var result = new (float[], int)[b];
        for (var i = 0; i < b; i++)
        {
            var rows = Math.Max(sequences[i].Length - 1, 0);
            result[i] = (hidden.Slice(i * t * c, rows * c).ToArray(), rows);
        }

        return result;
    }

    private static (int[] Tokens, int[] Mask) Pack(List<int>[] seqs, int t, FinishReason[] finish, int p)
    {
        var k = seqs.Length;
        var tokens = new int[k * t];
        var mask = new int[k * t];
        for (var j = 0; j < k; j++)
        {
            var n = Math.Min(seqs[j].Count, t);
            for (var i = 0; i < n; i++)
            {
                tokens[(j * t) + i] = seqs[j][i];
                mask[(j * t) + i] = 1;
            }
        }

        return (tokens, mask);
    }

    private static FinishReason Finished(HostedModel policy, List<int> seq, int p, int tok, SamplingSettings s)
    {
        if (tok == policy.EosTokenId) return FinishReason.Eos;
        if (s.StopTokenIds.Contains(tok)) return FinishReason.Stop;
        if (s.Stop.Length > 0)
        {
            var text = policy.Tokenizer.Decode(seq.Skip(p).ToArray(), skipSpecialTokens: true);
            if (s.Stop.Any(x => text.EndsWith(x, StringComparison.Ordinal))) return FinishReason.Stop;
        }

        return seq.Count >= policy.ContextLength ? FinishReason.Context : FinishReason.Unspecified;
    }
}
