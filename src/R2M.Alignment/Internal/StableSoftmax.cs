using System.Numerics.Tensors;

namespace R2M.Alignment.Internal;

/// <summary>Softmax that subtracts the maximum first, so large logits cannot overflow exp.</summary>
internal static class StableSoftmax
{
    public static void InPlace(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        float sum = TensorPrimitives.Sum(x);
        TensorPrimitives.Divide(x, sum, x);
    }
}
