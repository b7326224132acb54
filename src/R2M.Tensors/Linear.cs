using System.Numerics.Tensors;
using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// nn.Linear(in, out) over <see cref="Gemm.Sgemm"/>: y = x W^T + b with W stored [out, in]
/// (docs/specs.md section 3). Rows are B*T flattened.
/// </summary>
public static class Linear
{
    /// <summary>output (N,Out) = input (N,In) @ weight (Out,In)^T + bias (Out); bias may be empty.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight,
        ReadOnlySpan<float> bias, int rows, int inFeatures, int outFeatures)
    {
        CheckDims(rows, inFeatures, outFeatures);
        Check.Len(output.Length, (long)rows * outFeatures, nameof(output), "(N,Out)");
        Check.Len(input.Length, (long)rows * inFeatures, nameof(input), "(N,In)");
        Check.Len(weight.Length, (long)outFeatures * inFeatures, nameof(weight), "(Out,In)");
        Check.LenOpt(bias.Length, outFeatures, nameof(bias), "(Out)");
        if (rows == 0 || outFeatures == 0)
        {
            return;
        }
        SeedBias(output, bias, rows, outFeatures);
        Gemm.Sgemm(false, true, rows, outFeatures, inFeatures, 1f, input, Math.Max(1, inFeatures), weight,
            Math.Max(1, inFeatures), bias.Length > 0 ? 1f : 0f, output, outFeatures);
    }

    /// <summary>
    /// output (N,Out) = input (N,In) @ weight^T + bias (Out) with weight an (Out,In) <see cref="WeightMatrix"/>
    /// of any precision (the inference path: f32 compute, weights widened in the kernel); bias may be empty.
    /// </summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, WeightMatrix weight, ReadOnlySpan<float> bias, int rows)
    {
        ArgumentNullException.ThrowIfNull(weight);
        int inFeatures = weight.Cols, outFeatures = weight.Rows;
        Check.Dims(rows, nameof(rows));
        Check.Len(output.Length, (long)rows * outFeatures, nameof(output), "(N,Out)");
        Check.Len(input.Length, (long)rows * inFeatures, nameof(input), "(N,In)");
        Check.LenOpt(bias.Length, outFeatures, nameof(bias), "(Out)");
        if (rows == 0 || outFeatures == 0)
        {
            return;
        }
        SeedBias(output, bias, rows, outFeatures);
        Gemm.Sgemm(rows, 1f, input, Math.Max(1, inFeatures), weight, bias.Length > 0 ? 1f : 0f, output, outFeatures);
    }

    /// <summary>
    /// Accumulates dinput (N,In) += dout @ W; dweight (Out,In) += dout^T @ x; dbias (Out) += column sums of
    /// dout. doutput (N,Out); input (N,In); weight (Out,In). dinput and dbias may be empty to skip them.
    /// </summary>
    public static void Backward(Span<float> dinput, Span<float> dweight, Span<float> dbias, ReadOnlySpan<float> doutput,
        ReadOnlySpan<float> input, ReadOnlySpan<float> weight, int rows, int inFeatures, int outFeatures)
    {
        CheckDims(rows, inFeatures, outFeatures);
        Check.LenOpt(dinput.Length, (long)rows * inFeatures, nameof(dinput), "(N,In)");
        Check.Len(dweight.Length, (long)outFeatures * inFeatures, nameof(dweight), "(Out,In)");
        Check.LenOpt(dbias.Length, outFeatures, nameof(dbias), "(Out)");
        Check.Len(doutput.Length, (long)rows * outFeatures, nameof(doutput), "(N,Out)");
        Check.Len(input.Length, (long)rows * inFeatures, nameof(input), "(N,In)");
        Check.Len(weight.Length, (long)outFeatures * inFeatures, nameof(weight), "(Out,In)");
        if (rows == 0 || outFeatures == 0 || inFeatures == 0)
        {
            return;
        }
        if (dinput.Length > 0)
        {
            Gemm.Sgemm(false, false, rows, inFeatures, outFeatures, 1f, doutput, outFeatures, weight, inFeatures, 1f, dinput, inFeatures);
        }
        Gemm.Sgemm(true, false, outFeatures, inFeatures, rows, 1f, doutput, outFeatures, input, inFeatures, 1f, dweight, inFeatures);
        if (dbias.Length > 0)
        {
            var db = dbias[..outFeatures];
            for (int n = 0; n < rows; n++)
            {
                TensorPrimitives.Add(db, doutput.Slice(n * outFeatures, outFeatures), db);
            }
        }
    }

    /// <summary>Seeds C with the bias so GEMM accumulates onto it (beta = 1); nothing when bias is empty.</summary>
    private static void SeedBias(Span<float> output, ReadOnlySpan<float> bias, int rows, int outFeatures)
    {
        for (int n = 0; n < rows && bias.Length > 0; n++)
        {
            bias[..outFeatures].CopyTo(output.Slice(n * outFeatures, outFeatures));
        }
    }

    private static void CheckDims(int rows, int inFeatures, int outFeatures)
    {
        Check.Dims(rows, nameof(rows));
        Check.Dims(inFeatures, nameof(inFeatures));
        Check.Dims(outFeatures, nameof(outFeatures));
    }
}
