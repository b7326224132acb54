namespace R2M.Models.Layers;

/// <summary>AdamW over one contiguous buffer through <see cref="R2M.Tensors.AdamW"/> (torch.optim.AdamW semantics).</summary>
internal static class AdamW
{
    /// <param name="p">(P) parameters</param>
    /// <param name="g">(P) gradients</param>
    /// <param name="m">(P) first moment</param>
    /// <param name="v">(P) second moment</param>
    public static void Step(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int step,
        float lr, float beta1, float beta2, float eps, float weightDecay) =>
        R2M.Tensors.AdamW.Step(p, g, m, v, step, lr, beta1, beta2, eps, weightDecay);
}
