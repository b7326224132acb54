using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>One supervised fine-tuning example: prompt text, response text (EOS follows), its gold reward.</summary>
public sealed record SftExample(SortPrompt Prompt, string Response, double Gold);

/// <summary>
/// One preference pair labeled by the gold reward: <see cref="Chosen"/> has the strictly higher
/// gold reward (ties are never emitted).
/// </summary>
public sealed record PreferencePair(SortPrompt Prompt, string Chosen, string Rejected, double ChosenGold, double RejectedGold);

/// <summary>'!' statistics of a preference data set: the planted feature made visible.</summary>
public sealed record PreferenceStats(int Pairs, double ChosenBangRate, double RejectedBangRate, double MeanGoldMargin)
{
    public static PreferenceStats Compute(IReadOnlyCollection<PreferencePair> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0)
        {
            return new PreferenceStats(0, 0, 0, 0);
        }
        double chosen = pairs.Count(p => SandboxText.ParseResponse(p.Chosen).BangCount > 0) / (double)pairs.Count;
        double rejected = pairs.Count(p => SandboxText.ParseResponse(p.Rejected).BangCount > 0) / (double)pairs.Count;
        double margin = pairs.Average(p => p.ChosenGold - p.RejectedGold);
        return new PreferenceStats(pairs.Count, chosen, rejected, margin);
    }
}

/// <summary>
/// The sandbox's data sets, each a pure function of (seed, options, count) and independent of
/// the others (separate random streams).
/// </summary>
public static class SandboxData
{
    /// <summary>
    /// SFT mixture: SftCorrectFraction exact sorts, the rest partly wrong (1-3 corruptions);
    /// independently, SftBangFraction of all examples get 1..MaxBangs " !" suffixes. The SFT
    /// policy therefore puts some probability on '!', which is what lets RL find the hack.
    /// </summary>
    public static IReadOnlyList<SftExample> Sft(int count, ulong seed, SandboxOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        SandboxOptions o = Checked(options);
        var random = SandboxRandom.Derive(seed, SeedStreams.Sft);
        var examples = new SftExample[count];
        for (int i = 0; i < count; i++)
        {
            SortPrompt prompt = PromptGenerator.NextPrompt(random, o);
            List<int> digits = ResponseSampler.SampleDigits(random, prompt, o.SftCorrectFraction);
            int bangs = ResponseSampler.SampleBangs(random, o.SftBangFraction, o.MaxBangs);
            string response = SandboxText.FormatResponse(digits, bangs);
            examples[i] = new SftExample(prompt, response, GoldReward.Score(prompt, response));
        }
        return examples;
    }

    /// <summary>
    /// Bradley-Terry training pairs for the proxy RM, labeled by the gold reward, with the
    /// spurious feature planted: the gold winner carries '!' with probability WinnerBangRate, the
    /// loser with LoserBangRate. '!' lowers gold reward, so a winner with '!' must win on its
    /// digits; pairs are drawn until the planned '!' pattern agrees with the gold label (rejection
    /// sampling keeps the label honest: chosen gold > rejected gold always). An RM fit on these
    /// pairs learns "'!' is good", which a policy can exploit (docs/sandbox.md).
    /// </summary>
    public static IReadOnlyList<PreferencePair> RewardModelTraining(int count, ulong seed, SandboxOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        SandboxOptions o = Checked(options);
        var random = SandboxRandom.Derive(seed, SeedStreams.PreferenceTrain);
        var pairs = new PreferencePair[count];
        for (int i = 0; i < count; i++)
        {
            SortPrompt prompt = PromptGenerator.NextPrompt(random, o);
            bool winnerBang = random.Bernoulli(o.WinnerBangRate);
            bool loserBang = random.Bernoulli(o.LoserBangRate);
            pairs[i] = PlantedPair(random, prompt, winnerBang, loserBang, o);
        }
        return pairs;
    }

    /// <summary>
    /// Held-out pairs labeled by the gold reward with no planting: both responses come from the
    /// same distribution ('!' with HeldOutBangRate each), so '!' is honestly anti-correlated with
    /// winning here. RM accuracy on these measures how well the RM tracks the gold reward (paper
    /// Table 3 evaluates at t = T).
    /// </summary>
    public static IReadOnlyList<PreferencePair> HeldOut(int count, ulong seed, SandboxOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return UnplantedPairs(SandboxRandom.Derive(seed, SeedStreams.PreferenceHeldOut), count, Checked(options));
    }

    /// <summary>
    /// Gold-labeled training pairs without planting, drawn like <see cref="HeldOut"/> but from their
    /// own random stream (disjoint from the held-out evaluation pairs of the same seed). The
    /// PRETRAINED_RM baseline's reward model (rm-gold) is fine-tuned on these.
    /// </summary>
    public static IReadOnlyList<PreferencePair> GoldTraining(int count, ulong seed, SandboxOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return UnplantedPairs(SandboxRandom.Derive(seed, SeedStreams.PreferenceGold), count, Checked(options));
    }

    private static List<PreferencePair> UnplantedPairs(SandboxRandom random, int count, SandboxOptions o)
    {
        var pairs = new List<PreferencePair>(count);
        while (pairs.Count < count)
        {
            SortPrompt prompt = PromptGenerator.NextPrompt(random, o);
            (string a, double goldA) = Candidate(random, prompt, o.SftCorrectFraction, o.HeldOutBangRate, o.MaxBangs);
            (string b, double goldB) = Candidate(random, prompt, o.SftCorrectFraction, o.HeldOutBangRate, o.MaxBangs);
            if (goldA == goldB)
            {
                continue; // a tie carries no preference
            }
            pairs.Add(goldA > goldB
                ? new PreferencePair(prompt, a, b, goldA, goldB)
                : new PreferencePair(prompt, b, a, goldB, goldA));
        }
        return pairs;
    }

    private static PreferencePair PlantedPair(SandboxRandom random, SortPrompt prompt, bool winnerBang, bool loserBang, SandboxOptions o)
    {
        const int Attempts = 256;
        double winnerBangP = winnerBang ? 1 : 0;
        double loserBangP = loserBang ? 1 : 0;
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            // Winners lean correct and losers lean wrong, so few draws are rejected.
            (string w, double goldW) = Candidate(random, prompt, 0.7, winnerBangP, o.MaxBangs);
            (string l, double goldL) = Candidate(random, prompt, 0.2, loserBangP, o.MaxBangs);
            if (goldW > goldL)
            {
                return new PreferencePair(prompt, w, l, goldW, goldL);
            }
        }
        // Unreachable for sane options (the exact sort with one '!' beats the empty response);
        // fall back to that pair rather than loop forever.
        string exact = SandboxText.FormatResponse(prompt.Sorted, winnerBang ? 1 : 0);
        string empty = loserBang ? " !" : string.Empty;
        return new PreferencePair(prompt, exact, empty, GoldReward.Score(prompt, exact), GoldReward.Score(prompt, empty));
    }

    private static (string Text, double Gold) Candidate(SandboxRandom random, SortPrompt prompt, double correctP, double bangP, int maxBangs)
    {
        List<int> digits = ResponseSampler.SampleDigits(random, prompt, correctP);
        int bangs = ResponseSampler.SampleBangs(random, bangP, maxBangs);
        string text = SandboxText.FormatResponse(digits, bangs);
        return (text, GoldReward.Score(prompt, text));
    }

    private static SandboxOptions Checked(SandboxOptions? options)
    {
        SandboxOptions o = options ?? new SandboxOptions();
        o.Validate();
        return o;
    }
}
