using R2M.Api.V1;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>Reward-model accuracy on held-out pairs, scored with and without policy feedback at one schedule.</summary>
/// <param name="Pairs">Pairs scored.</param>
/// <param name="WithFeedback">Share of pairs where chosen scores above rejected (ties count 1/2), both responses teacher-forced
/// through the policy (Policy.TeacherForce) and scored by rollout id: r = phi(H_fin) with the policy's hidden states.</param>
/// <param name="WithoutFeedback">The same pairs scored inline, without hidden states: r = phi(H_last).</param>
public sealed record HeldOutResult(int Pairs, double WithFeedback, double WithoutFeedback);

/// <summary>
/// Held-out RM accuracy, the paper's way and the cheap way (docs/method.md section 2): the paper
/// scores held-out pairs through the policy, so each response is first run teacher-forced by the
/// server (its hidden states kept in the rollout store) and then scored by id; without feedback the
/// same text goes inline and the server scores phi(H_last). One implementation serves
/// <c>train</c> (sandbox held-out pairs, <c>--eval-pairs</c>), <c>eval-rm</c> and the study.
/// Sandbox models get exact token ids (<see cref="SandboxVocabulary.EncodeExample"/>, BOS and EOS as
/// in training); other models get text, tokenized by the server with each model's tokenizer.
/// </summary>
public sealed class HeldOutEvaluator(R2MClient client)
{
    /// <summary>Scores every pair under <paramref name="options"/> (variant and schedule; the paper evaluates at t = T).</summary>
    public async Task<HeldOutResult> EvaluateAsync(IReadOnlyList<PairRecord> pairs, ScoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(options);
        if (pairs.Count == 0)
        {
            throw new ArgumentException("no held-out pairs to evaluate", nameof(pairs));
        }

        // Errors name the pair by its id, or by its index in the list when it has none.
        pairs = [.. pairs.Select((p, i) => p.Id is null ? p with { Id = $"#{i}" } : p)];
        InfoReply info = await client.InfoAsync(cancellationToken).ConfigureAwait(false);
        bool sandboxPolicy = info.Policy?.VocabSize == SandboxVocabulary.VocabSize;
        bool sandboxRm = info.RewardModel?.VocabSize == SandboxVocabulary.VocabSize;
        // Two rollouts per pair, in calls the server's per-call limit allows; each chunk is scored
        // right away, so a small rollout store never evicts a chunk before it is scored.
        int perCall = Math.Max(1, (int)Math.Min(info.Limits?.MaxRolloutsPerGenerate ?? 64, 512) / 2);
        var with = new List<double>(pairs.Count * 2);
        for (int start = 0; start < pairs.Count; start += perCall)
        {
            var chunk = pairs.Skip(start).Take(perCall).ToList();
            with.AddRange(await WithFeedbackAsync(chunk, sandboxPolicy, options, cancellationToken).ConfigureAwait(false));
        }

        var without = (await WithoutFeedbackAsync(pairs, sandboxRm, options, cancellationToken).ConfigureAwait(false)).ToList();
        return new HeldOutResult(pairs.Count, Accuracy(with), Accuracy(without));
    }

    /// <summary>The sandbox's held-out pairs as records (the RM's training distribution, fixed by seed).</summary>
    public static IReadOnlyList<PairRecord> SandboxPairs(int count, ulong seed, SandboxOptions sandbox) =>
        [.. SandboxData.HeldOut(count, seed, sandbox).Select((p, i) => new PairRecord(p.Prompt.Text, p.Chosen, p.Rejected, $"sandbox-{i}"))];

    private async Task<IEnumerable<double>> WithFeedbackAsync(IReadOnlyList<PairRecord> pairs, bool sandboxVocab, ScoreOptions options, CancellationToken ct)
    {
        var request = new TeacherForceRequest();
        foreach (PairRecord p in pairs)
        {
            request.Items.Add(Forced(p.Prompt, p.Chosen, sandboxVocab));
            request.Items.Add(Forced(p.Prompt, p.Rejected, sandboxVocab));
        }

        IReadOnlyList<Rollout> rollouts = await client.TeacherForceAsync(request, ct).ConfigureAwait(false);
        IReadOnlyList<ScoreReply> replies = await client.ScoreRolloutsAsync([.. rollouts.Select(r => r.RolloutId)], options, ct).ConfigureAwait(false);
        return Rewards(replies, pairs, "with feedback");
    }

    private async Task<IEnumerable<double>> WithoutFeedbackAsync(IReadOnlyList<PairRecord> pairs, bool sandboxVocab, ScoreOptions options, CancellationToken ct)
    {
        var messages = new List<ScoreRequest>(pairs.Count * 2);
        for (int i = 0; i < pairs.Count; i++)
        {
            messages.Add(new ScoreRequest { ItemId = $"c{i}", Inline = Inline(pairs[i].Prompt, pairs[i].Chosen, sandboxVocab), Options = options });
            messages.Add(new ScoreRequest { ItemId = $"r{i}", Inline = Inline(pairs[i].Prompt, pairs[i].Rejected, sandboxVocab), Options = options });
        }

        IReadOnlyList<ScoreReply> replies = await client.ScoreAsync(messages, ct).ConfigureAwait(false);
        return Rewards(replies, pairs, "without feedback");
    }

    private static TeacherForceItem Forced(string prompt, string response, bool sandboxVocab)
    {
        if (!sandboxVocab)
        {
            return new TeacherForceItem { Prompt = new Prompt { Text = prompt }, ResponseText = response };
        }

        (int[] ids, int promptLength) = SandboxVocabulary.EncodeExample(prompt, response);
        return new TeacherForceItem
        {
            Prompt = new Prompt { TokenIds = new TokenIds { Ids = { ids[..promptLength] } } },
            ResponseTokenIds = new TokenIds { Ids = { ids[promptLength..] } },
        };
    }

    private static InlineItem Inline(string prompt, string response, bool sandboxVocab)
    {
        if (!sandboxVocab)
        {
            return new InlineItem { PromptText = prompt, ResponseText = response };
        }

        (int[] ids, int promptLength) = SandboxVocabulary.EncodeExample(prompt, response);
        return new InlineItem
        {
            PromptTokenIds = new TokenIds { Ids = { ids[..promptLength] } },
            ResponseTokenIds = new TokenIds { Ids = { ids[promptLength..] } },
        };
    }

    /// <summary>Rewards in (chosen, rejected) order per pair; an item error names the pair (its id when the file gave one).</summary>
    private static IEnumerable<double> Rewards(IReadOnlyList<ScoreReply> replies, IReadOnlyList<PairRecord> pairs, string how)
    {
        for (int i = 0; i < replies.Count; i++)
        {
            if (replies[i].Error is { } e)
            {
                PairRecord p = pairs[i / 2];
                string which = i % 2 == 0 ? "chosen" : "rejected";
                throw new InvalidDataException($"held-out scoring {how}: pair {p.Id} ({which}): {(Grpc.Core.StatusCode)e.Code}: {e.Message}");
            }
        }

        return replies.Select(r => (double)r.Reward);
    }

    /// <summary>Rewards alternate chosen, rejected.</summary>
    private static double Accuracy(List<double> rewards) =>
        SandboxReport.PairAccuracy([.. rewards.Where((_, i) => i % 2 == 0)], [.. rewards.Where((_, i) => i % 2 == 1)]);
}
