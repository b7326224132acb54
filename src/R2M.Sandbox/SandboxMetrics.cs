namespace R2M.Sandbox;

/// <summary>
/// Gold-side statistics of a batch of responses (docs/sandbox.md "Metrics, plots, table": the quantities the
/// demo reports per variant besides what the server returns).
/// </summary>
/// <param name="Count">Responses measured.</param>
/// <param name="MeanGold">Mean gold reward, in [0, 1].</param>
/// <param name="BangRate">Fraction of responses with at least one '!'.</param>
/// <param name="MeanBangs">Mean number of '!' per response.</param>
/// <param name="MeanLength">Mean response length in symbols (up to EOS).</param>
/// <param name="ExactRate">Fraction of responses that are exactly the sorted digits.</param>
public sealed record ResponseStats(int Count, double MeanGold, double BangRate, double MeanBangs, double MeanLength, double ExactRate)
{
    public static ResponseStats Compute(IEnumerable<(SortPrompt Prompt, string Response)> responses)
    {
        ArgumentNullException.ThrowIfNull(responses);
        int n = 0, withBang = 0, bangs = 0, length = 0, exact = 0;
        double gold = 0;
        foreach ((SortPrompt prompt, string response) in responses)
        {
            ResponseSymbols parsed = SandboxText.ParseResponse(response);
            double g = GoldReward.Score(prompt.Sorted, parsed.Symbols);
            n++;
            gold += g;
            bangs += parsed.BangCount;
            withBang += parsed.BangCount > 0 ? 1 : 0;
            length += parsed.Length;
            exact += g == 1.0 ? 1 : 0;
        }
        return n == 0
            ? new ResponseStats(0, 0, 0, 0, 0, 0)
            : new ResponseStats(n, gold / n, (double)withBang / n, (double)bangs / n, (double)length / n, (double)exact / n);
    }
}

/// <summary>
/// One training step of one variant and seed: a line of the metrics JSONL file. Values the step
/// did not produce (no Update for VANILLA) are null, never a made-up zero.
/// </summary>
public sealed record VariantStepMetrics
{
    public required string Variant { get; init; }
    public required ulong Seed { get; init; }
    public required int Step { get; init; }
    /// <summary>Mean gold reward of this step's rollouts; null for a task without gold (user prompts).</summary>
    public double? GoldReward { get; init; }
    /// <summary>Mean reward the RM gave this step's rollouts (what the policy optimizes).</summary>
    public required double ProxyReward { get; init; }
    /// <summary>Mean per-token KL to the reference (SFT) policy, nats (OptimizeReply.kl).</summary>
    public double? Kl { get; init; }
    /// <summary>Mean per-token entropy of the policy over response tokens, nats (OptimizeReply.entropy; null when the server does not send it).</summary>
    public double? Entropy { get; init; }
    /// <summary>Share of responses with a '!' (the sandbox's spurious feature); null outside the sandbox.</summary>
    public double? BangRate { get; init; }
    /// <summary>Mean response length: sandbox symbols up to EOS; for text tasks response tokens without EOS.</summary>
    public required double MeanResponseLength { get; init; }
    public double? PolicyLoss { get; init; }
    public double? BtLoss { get; init; }
    public double? GreLoss { get; init; }
    /// <summary>Mean over groups of 1 - Spearman(policy log-likelihood, reward) (docs/method.md section 7; R2M.Alignment.Seam), over the groups where it is defined.</summary>
    public double? Seam { get; init; }
    public double? Omega { get; init; }
    /// <summary>Sandbox task name (<see cref="SandboxTasks"/>); null for runs before tasks existed.</summary>
    public string? Task { get; init; }
    /// <summary>On-policy RM accuracy against gold (<see cref="RolloutMetrics.OnPolicyAccuracy"/>).</summary>
    public double? OnPolicyAccuracy { get; init; }
    /// <summary>Mean within-group population std of the RM rewards.</summary>
    public double? RewardGroupStd { get; init; }
    /// <summary>Share of groups with reward std below <see cref="RolloutMetrics.DegenerateStd"/>.</summary>
    public double? DegenerateGroupShare { get; init; }
    /// <summary>Share of groups whose gold rewards are all equal.</summary>
    public double? GoldTiedGroupShare { get; init; }
    /// <summary>Var(fused part) / Var(reward) over the batch (<see cref="RolloutMetrics.FusedShare"/>).</summary>
    public double? FusedShare { get; init; }
    /// <summary>The run this line belongs to (random id printed by r2m-client train and kept in its checkpoints); null for older files.</summary>
    public string? RunId { get; init; }
    /// <summary>Who picked the GREBT pairs when it was not the RM itself (<see cref="PairLabels.Describe"/>): marks a diagnostic run.</summary>
    public string? PairLabels { get; init; }
    /// <summary>Mean RM reward of one response (K = 1) per evaluation prompt, on the steps that evaluated.</summary>
    public double? EvalReward { get; init; }
    /// <summary>Mean gold reward of the same evaluation responses, when the task has gold.</summary>
    public double? EvalGold { get; init; }
    public ulong? RmVersion { get; init; }
    public ulong? PolicyVersion { get; init; }
    public double? ElapsedSeconds { get; init; }
}

/// <summary>
/// A variant's result over seeds: the row of the demo table. Means over seeds of the final-step
/// values, with their standard deviation over seeds (0 for a single seed).
/// </summary>
public sealed record VariantSummary
{
    public required string Variant { get; init; }
    public required int Seeds { get; init; }
    public required double GoldReward { get; init; }
    public required double GoldRewardStd { get; init; }
    public required double ProxyReward { get; init; }
    public required double ProxyRewardStd { get; init; }
    public double? Kl { get; init; }
    /// <summary>Share of responses with a '!' (the sandbox's spurious feature); null outside the sandbox.</summary>
    public double? BangRate { get; init; }
    /// <summary>Mean response length: sandbox symbols up to EOS; for text tasks response tokens without EOS.</summary>
    public required double MeanResponseLength { get; init; }
    /// <summary>RM accuracy on held-out gold-labeled pairs, scored at t = T (paper Table 3).</summary>
    public double? RmHeldOutAccuracy { get; init; }

    /// <summary>Summarizes each seed's last step of <paramref name="variant"/>.</summary>
    public static VariantSummary FromFinalSteps(string variant, IReadOnlyList<VariantStepMetrics> finalSteps, double? rmHeldOutAccuracy = null)
    {
        ArgumentNullException.ThrowIfNull(finalSteps);
        if (finalSteps.Count == 0)
        {
            throw new ArgumentException($"variant '{variant}' has no final steps to summarize", nameof(finalSteps));
        }
        double[] kls = finalSteps.Where(s => s.Kl.HasValue).Select(s => s.Kl!.Value).ToArray();
        if (finalSteps.Any(s => s.GoldReward is null || s.BangRate is null))
        {
            throw new ArgumentException($"variant '{variant}': a final step has no gold reward or '!' rate (a task without gold has no table row)", nameof(finalSteps));
        }
        return new VariantSummary
        {
            Variant = variant,
            Seeds = finalSteps.Count,
            GoldReward = finalSteps.Average(s => s.GoldReward!.Value),
            GoldRewardStd = Std(finalSteps.Select(s => s.GoldReward!.Value)),
            ProxyReward = finalSteps.Average(s => s.ProxyReward),
            ProxyRewardStd = Std(finalSteps.Select(s => s.ProxyReward)),
            Kl = kls.Length > 0 ? kls.Average() : null,
            BangRate = finalSteps.Average(s => s.BangRate!.Value),
            MeanResponseLength = finalSteps.Average(s => s.MeanResponseLength),
            RmHeldOutAccuracy = rmHeldOutAccuracy,
        };
    }

    /// <summary>Population standard deviation (divide by n).</summary>
    internal static double Std(IEnumerable<double> values)
    {
        double[] v = values.ToArray();
        if (v.Length < 2)
        {
            return 0;
        }
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length);
    }
}
