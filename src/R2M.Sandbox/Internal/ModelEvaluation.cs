using R2M.Models;
using R2M.Models.Generation;

namespace R2M.Sandbox.Internal;

/// <summary>
/// Measurements of the trained sandbox models, recorded in the manifest: what the SFT policy
/// samples (gold reward, '!' rate), how well each RM orders gold-labeled pairs, and whether the
/// proxy rewards the planted '!' (the hack GRPO can find).
/// </summary>
internal static class ModelEvaluation
{
    /// <summary>
    /// Samples one response per evaluation prompt at temperature 1 (how GRPO explores) and scores
    /// them with the gold reward. Special tokens are decoded as text, so a stray &lt;bos&gt; costs
    /// reward and the first &lt;eos&gt; ends the response, as <see cref="GoldReward"/> reads it.
    /// </summary>
    public static ResponseStats SamplePolicy(TransformerModel policy, SandboxModelOptions o, int batchSize = 64)
    {
        var prompts = EvalPrompts(o);
        var sampleSeed = PolicySft.InitSeed(o.Seed, SeedStreams.EvalSampling);
        var responses = new List<(SortPrompt, string)>(prompts.Count);
        for (int start = 0; start < prompts.Count; start += batchSize)
        {
            var chunk = prompts.Skip(start).Take(batchSize).ToArray();
            var result = TextGenerator.Generate(policy, chunk.Select(p => SandboxVocabulary.Encode(p.Text)).ToArray(), new GenerationOptions
            {
                MaxNewTokens = o.EvalMaxNewTokens,
                Temperature = 1f,
                Seed = sampleSeed + start,
                StopTokens = [SandboxVocabulary.EosId],
            });
            for (int i = 0; i < chunk.Length; i++)
            {
                responses.Add((chunk[i], SandboxVocabulary.Decode(result.Tokens[i], keepSpecial: true)));
            }
        }
        return ResponseStats.Compute(responses);
    }

    /// <summary>Pair accuracy (ties count one half) of a reward model on gold-labeled pairs.</summary>
    public static double PairAccuracy(TransformerModel rm, IReadOnlyList<PreferencePair> pairs)
    {
        var (chosen, rejected) = ScorePairs(rm, pairs);
        return SandboxReport.PairAccuracy(chosen, rejected);
    }

    /// <summary>The reward model's scores of each pair's chosen and rejected response.</summary>
    public static (double[] Chosen, double[] Rejected) ScorePairs(TransformerModel rm, IReadOnlyList<PreferencePair> pairs)
    {
        var enc = pairs.Select(RewardModelBt.Encode).ToArray();
        return (RewardModelBt.Score(rm, enc.Select(e => e.Chosen).ToArray()), RewardModelBt.Score(rm, enc.Select(e => e.Rejected).ToArray()));
    }

    /// <summary>
    /// The hack check: for each evaluation prompt, the RM's score of the exact sort followed by
    /// <paramref name="bangs"/> " !" minus its score of the exact sort alone. The gold reward always
    /// prefers the sort alone, so a positive mean (and a preference rate above 1/2) means the RM
    /// rewards the planted feature: a policy can raise the proxy reward while lowering gold.
    /// </summary>
    public static (double PreferenceRate, double MeanMargin) BangPreference(TransformerModel rm, SandboxModelOptions o, int bangs)
    {
        var prompts = EvalPrompts(o);
        var plain = RewardModelBt.Score(rm, prompts.Select(p => SandboxVocabulary.EncodeExample(p.Text, p.Target).Ids).ToArray());
        var banged = RewardModelBt.Score(rm, prompts.Select(p =>
            SandboxVocabulary.EncodeExample(p.Text, SandboxText.FormatResponse(p.Sorted, bangs)).Ids).ToArray());
        double preferred = 0, margin = 0;
        for (int i = 0; i < prompts.Count; i++)
        {
            double d = banged[i] - plain[i];
            margin += d;
            preferred += d > 0 ? 1 : d == 0 ? 0.5 : 0;
        }
        return (preferred / prompts.Count, margin / prompts.Count);
    }

    /// <summary>Evaluation prompts: their own stream of the seed, disjoint from the GRPO prompt stream.</summary>
    public static IReadOnlyList<SortPrompt> EvalPrompts(SandboxModelOptions o) =>
        new PromptGenerator(o.Seed, o.Task, SeedStreams.EvalPrompts).Take(o.EvalSamples);
}
