using System.Numerics.Tensors;

namespace R2M.Tensors.Internal;

/// <summary>dest = x * a + b with scalar a, b (TensorPrimitives has no scalar-scalar MultiplyAdd).</summary>
internal static class Affine
{
    public static void Apply(ReadOnlySpan<float> x, float a, float b, Span<float> dest)
    {
        TensorPrimitives.Multiply(x, a, dest);
        TensorPrimitives.Add(dest, b, dest);
    }
}
