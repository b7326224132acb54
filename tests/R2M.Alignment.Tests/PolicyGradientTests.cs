namespace R2M.Alignment.Tests;

/// <summary>The toy policy's own Backward must be right before loop tests mean anything.</summary>
public sealed class ToyPolicyTests
{
    [Fact]
    public void Backward_MatchesFiniteDifferences()
    {
        var p = new ToyPolicy(5, 3, seed: 2);
        int[] prompt = [1, 2], comp = [3, 4, 0];
        var d = new float[] { 0.5f, -1f, 2f };
        p.ZeroGrad();
        p.Backward(p.Forward([(prompt, comp)], 0.7f, true), [d]);
        var g = p.Gradients.ToArray();
        for (int i = 0; i < g.Length; i++)
        {
            float keep = p.Parameters[i];
            double F() { var l = p.Forward([(prompt, comp)], 0.7f, false).CompletionLogProbs[0]; return l[0] * 0.5 - l[1] + 2 * l[2]; }
            p.Parameters[i] = keep + 1e-3f; double up = F();
            p.Parameters[i] = keep - 1e-3f; double dn = F();
            p.Parameters[i] = keep;
            Assert.True(Math.Abs((up - dn) / 2e-3 - g[i]) < 5e-3, $"param {i}: {g[i]} vs {(up - dn) / 2e-3}");
        }
    }
}
