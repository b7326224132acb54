using R2M.Models.Safetensors;
using R2M.Tensors;

namespace R2M.Models;

/// <summary>
/// Inference weight storage. Inference (Forward with training: false, ForwardCached, generation)
/// reads the projection matrices and the LM head from an inference copy at
/// <see cref="InferencePrecision"/> (bf16/f16 halve the bytes a decode step streams; compute stays
/// f32, the kernels widen the weights in registers). Training always uses the f32 master
/// <see cref="Parameters"/>: a policy that trains calls <see cref="RefreshInferenceWeights"/> after
/// each optimizer step. A model loaded with <see cref="ModelCheckpoint.LoadForInference"/> is
/// serve-only: its matrices exist only in the stored precision.
/// </summary>
public abstract partial class TransformerModel
{
    private InferenceWeights? _inference;

    /// <summary>Precision of the matrices inference reads; F32 = the master parameters themselves.</summary>
    public WeightPrecision InferencePrecision => _inference?.Precision ?? WeightPrecision.F32;

    /// <summary>
    /// True for a model loaded for serving only: the projection matrices and the untied LM head are
    /// held at <see cref="InferencePrecision"/> and nowhere in f32, so training calls throw and
    /// <see cref="Parameter"/> of such a matrix throws.
    /// </summary>
    public bool ServeOnly { get; private set; }

    /// <summary>
    /// Makes inference read the matrices at <paramref name="precision"/>, copied (rounded to nearest
    /// even) from <see cref="Parameters"/>; F32 drops the copy. Not for serve-only models.
    /// </summary>
    public void SetInferencePrecision(WeightPrecision precision)
    {
        ThrowIfServeOnly(nameof(SetInferencePrecision));
        _inference = precision == WeightPrecision.F32 ? null : new InferenceWeights(this, _layers, _globals, precision);
        _inference?.CopyFrom(Parameters);
    }

    /// <summary>
    /// Re-copies the f32 master parameters into the inference copy. Call after every change of
    /// <see cref="Parameters"/> (an optimizer step, a load) while <see cref="InferencePrecision"/> is not
    /// F32; a no-op at F32. The r2m server calls it after each Optimize.
    /// </summary>
    public void RefreshInferenceWeights()
    {
        ThrowIfServeOnly(nameof(RefreshInferenceWeights));
        _inference?.CopyFrom(Parameters);
    }

    /// <summary>Serve-only set-up before a checkpoint load: matrices at <paramref name="precision"/>, not in f32.</summary>
    internal void PrepareServeOnly(WeightPrecision precision)
    {
        _inference = new InferenceWeights(this, _layers, _globals, precision);
        ServeOnly = true;
    }

    /// <summary>
    /// Loads one checkpoint tensor: into <see cref="Parameters"/>, or, for a serve-only model's
    /// matrices, straight into the stored-precision copy (raw bytes when the file already holds that
    /// precision: no f32 round trip).
    /// </summary>
    internal void LoadParameter(ParameterInfo e, SafetensorsFile file)
    {
        if (ServeOnly && _inference!.Find(e.Offset, e.Size) is var (m, start))
        {
            var info = file.GetInfo(e.Name);
            var elem = Precision.Size(m.Precision);
            var dst = m.Bytes.Slice(checked((int)(start * elem)), checked((int)(e.Size * elem)));
            if (SameFormat(info.Dtype, m.Precision))
            {
                file.Bytes(info).CopyTo(dst);
                return;
            }
            var f32 = file.ReadF32(e.Name);
            if (m.Precision == WeightPrecision.BF16)
                Precision.F32ToBf16(f32, dst);
            else
                Precision.F32ToF16(f32, dst);
            return;
        }
        file.ReadF32(e.Name, Parameters.AsSpan((int)e.Offset, (int)e.Size));
    }

    /// <summary>
    /// After a checkpoint load: a trainable model's inference copy is refreshed from the new
    /// parameters; a serve-only model's tied head is copied from the (f32) embedding table.
    /// </summary>
    internal void AfterLoad()
    {
        if (!ServeOnly)
            _inference?.CopyFrom(Parameters);
        else if (_inference is { HeadTied: true, Head: { } head })
            head.CopyFrom(Parameters.AsSpan(_inference.HeadOffset, head.Rows * head.Cols));
    }

    private static bool SameFormat(SafetensorsDtype d, WeightPrecision p) =>
        (d == SafetensorsDtype.BF16 && p == WeightPrecision.BF16) || (d == SafetensorsDtype.F16 && p == WeightPrecision.F16);

    private void ThrowIfServeOnly(string operation)
    {
        if (ServeOnly)
            throw new InvalidOperationException($"{operation}: this model was loaded for serving only ({InferencePrecision} matrices, no f32 master weights); load it with ModelCheckpoint.Load to train");
    }

    /// <summary>y (N, Out) = x (N, In) @ W^T + b: the inference copy when inference reads one, else the f32 parameters.</summary>
    private void Project(Span<float> y, ReadOnlySpan<float> x, WeightMatrix? stored, int wOffset, ReadOnlySpan<float> bias,
        int n, int inF, int outF, bool training)
    {
        if (!training && stored is not null)
            Linear.Forward(y[..(n * outF)], x[..(n * inF)], stored, bias, n);
        else
            Linear.Forward(y, x, P(wOffset, (long)outF * inF), bias, n, inF, outF);
    }
}
