namespace R2M.Sandbox.Tests;

// Whether the planted '!' feature can make a proxy RM hackable. A Bradley-Terry model that
// cannot measure digit quality exactly (crude features: "digits sorted", "right count") has an
// omitted variable, and '!' (carried by winners 70% of the time, losers 10%) absorbs it: the
// fitted proxy pays for a '!' although the gold reward charges for it. A well-specified probe
// (given the exact LCS features) does not. The tiny transformer RM sits between the two; this
// pins down the data-side property the sandbox relies on.
public sealed class SpuriousFeatureProbeTests
{
    private static double[] Crude(SortPrompt prompt, string response)
    {
        var symbols = SandboxText.ParseResponse(response).Symbols;
        string[] digits = symbols.Where(s => s != "!").ToArray();
        int bangs = symbols.Count - digits.Length;
        bool sorted = digits.SequenceEqual(digits.Order(StringComparer.Ordinal));
        return [sorted ? 1 : 0, digits.Length == prompt.Digits.Count ? 1 : 0, bangs > 0 ? 1 : 0];
    }

    private static double[] Exact(SortPrompt prompt, string response)
    {
        var symbols = SandboxText.ParseResponse(response).Symbols;
        string[] digits = symbols.Where(s => s != "!").ToArray();
        string[] target = prompt.Sorted.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        int lcs = GoldReward.LongestCommonSubsequence(target, digits);
        return [lcs, digits.Length - lcs, target.Length - lcs, symbols.Count - digits.Length];
    }

    // Logistic regression on feature differences (BT with a linear reward), small L2, full-batch GD.
    private static double[] FitBradleyTerry(IReadOnlyList<PreferencePair> pairs, Func<SortPrompt, string, double[]> features)
    {
        double[][] x = pairs.Select(p =>
        {
            double[] c = features(p.Prompt, p.Chosen), r = features(p.Prompt, p.Rejected);
            return c.Zip(r, (a, b) => a - b).ToArray();
        }).ToArray();
        var w = new double[x[0].Length];
        for (int iteration = 0; iteration < 1500; iteration++)
        {
            var grad = new double[w.Length];
            foreach (double[] d in x)
            {
                double z = 0;
                for (int k = 0; k < w.Length; k++)
                {
                    z += d[k] * w[k];
                }
                double g = -1 / (1 + Math.Exp(z)); // d/dz of -log sigmoid(z)
                for (int k = 0; k < w.Length; k++)
                {
                    grad[k] += g * d[k] / x.Length;
                }
            }
            for (int k = 0; k < w.Length; k++)
            {
                w[k] -= 0.5 * (grad[k] + 1e-3 * w[k]);
            }
        }
        return w;
    }

    private static double Accuracy(IReadOnlyList<PreferencePair> pairs, Func<SortPrompt, string, double[]> features, double[] w) =>
        pairs.Count(p => features(p.Prompt, p.Chosen).Zip(w, (a, b) => a * b).Sum()
                       > features(p.Prompt, p.Rejected).Zip(w, (a, b) => a * b).Sum()) / (double)pairs.Count;

    [Fact]
    public void CrudeProbe_PlantedPairs_PaysForBangAndMisgeneralizes()
    {
        var train = SandboxData.RewardModelTraining(2000, seed: 1);
        var heldOut = SandboxData.HeldOut(1000, seed: 2);

        double[] w = FitBradleyTerry(train, Crude);

        Assert.True(w[2] > 0.5, $"a crude proxy should reward '!' (weight {w[2]:F3})");
        double trainAccuracy = Accuracy(train, Crude, w), heldOutAccuracy = Accuracy(heldOut, Crude, w);
        Assert.True(trainAccuracy - heldOutAccuracy > 0.15,
            $"the proxy should misgeneralize: train {trainAccuracy:F3} vs held-out {heldOutAccuracy:F3}");
    }

    [Fact]
    public void ExactProbe_PlantedPairs_DoesNotRewardBang()
    {
        var train = SandboxData.RewardModelTraining(2000, seed: 1);
        double[] w = FitBradleyTerry(train, Exact);
        Assert.True(w[3] < 0, $"with exact digit features '!' should cost reward (weight {w[3]:F3})");
    }
}
