namespace R2M.Alignment.Tests;

/// <summary>
/// What the group-reward-entropy term does mechanically (docs/method.md section 3): invariant to
/// shifting and scaling a group, blind to phi's bias, gradient growing like 1/std, and descent
/// that drives a group towards one stand-out reward. alpha = 1 isolates L_GRE.
/// </summary>
public sealed class GreEntropyPropertiesTests
{
    private static readonly float[] Group = [0.3f, -1.2f, 2.0f, 0.9f, 0.1f];
    private static readonly GrebtOptions GreOnly = new(Alpha: 1f);

    private static (float Loss, float[] Grad) Gre(float[] rewards)
    {
        var grad = new float[rewards.Length];
        var result = GrebtLoss.Compute(rewards, rewards, rewards.Length, GreOnly, grad);
        return (result.GreLoss, grad);
    }

    [Theory]
    [InlineData(1f, 5f)]
    [InlineData(3f, 0f)]
    [InlineData(0.1f, -2f)]
    public void GreLoss_ShiftedAndScaledGroup_Unchanged(float scale, float shift)
    {
        float baseline = Gre(Group).Loss;
        float moved = Gre([.. Group.Select(r => scale * r + shift)]).Loss;
        Assert.Equal(baseline, moved, 1e-4f);
    }

    [Fact]
    public void GreGradient_SumsToZero_SoPhiBiasGetsNoGradient()
    {
        // Every reward of a group is phi(H_fin) = w . H_fin + b, so dL/db = sum_j dL/dr_j.
        float[] grad = Gre(Group).Grad;
        Assert.True(grad.Any(g => Math.Abs(g) > 1e-3f), "the gradient itself is not zero");
        Assert.Equal(0f, grad.Sum(), 1e-6f);
    }

    [Theory]
    [InlineData(0.01f)]
    [InlineData(100f)]
    public void GreGradient_GroupScaledByC_GradientScaledBy1OverC(float c)
    {
        float[] baseline = Gre(Group).Grad;
        float[] scaled = Gre([.. Group.Select(r => c * r)]).Grad;
        for (int j = 0; j < Group.Length; j++)
        {
            Assert.Equal(baseline[j], scaled[j] * c, Math.Abs(baseline[j]) * 1e-3f + 1e-6f);
        }
    }

    [Fact]
    public void GreDescent_OnRewards_LowersEntropyAndRaisesTheTopShare()
    {
        float[] r = [.. Group];
        (float start, _) = Gre(r);
        double topStart = TopShare(r);
        for (int step = 0; step < 200; step++)
        {
            float[] grad = Gre(r).Grad;
            for (int j = 0; j < r.Length; j++)
            {
                r[j] -= 0.5f * grad[j];
            }
        }
        (float end, _) = Gre(r);
        Assert.True(end < start - 0.1f, $"L_GRE {start} -> {end}");
        Assert.True(TopShare(r) > topStart + 0.1, $"softmax share of the top member {topStart:F3} -> {TopShare(r):F3}");
    }

    /// <summary>Largest softmax probability of the group's population z-scores.</summary>
    private static double TopShare(float[] r)
    {
        double mean = r.Average(v => (double)v);
        double std = Math.Sqrt(r.Average(v => (v - mean) * (v - mean)));
        double[] e = [.. r.Select(v => Math.Exp((v - mean) / std))];
        return e.Max() / e.Sum();
    }
}
