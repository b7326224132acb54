using R2M.Tensors;

namespace R2M.Models;

/// <summary>
/// A decoder-only transformer (GPT-NeoX or Llama/Qwen2 family) on the CPU, llm.c style: every
/// parameter lives in one contiguous <see cref="Parameters"/> buffer with named views from
/// <see cref="Layout"/>; <see cref="Gradients"/> and the AdamW moments share that layout.
/// Forward keeps activations when training; <see cref="Backward"/> accumulates into the gradients.
/// Not thread-safe: one call at a time per instance.
/// </summary>
public abstract partial class TransformerModel
{
    private readonly LayerSlots[] _layers;
    private GlobalSlots _globals;
    /// <summary>Rotary inverse frequencies (r/2), r = RotaryDims; empty when no dims rotate.</summary>
    private readonly float[] _invFreq;
    private readonly ActivationKind _act;
    private ActivationBuffers? _acts;
    private float[]? _grads, _m, _v;
    private int _adamStep;

    private protected TransformerModel(ModelConfig config)
    {
        config.Validate("config");
        Config = config;
        Layout = new ParameterLayout();
        _layers = new LayerSlots[config.NumLayers];
        BuildLayout(Layout, _layers, ref _globals);
        if (Layout.TotalSize > Array.MaxLength)
            throw new NotSupportedException($"{Layout.TotalSize} parameters exceed one float[] ({Array.MaxLength})");
        Parameters = new float[Layout.TotalSize];
        _invFreq = config.RotaryDims == 0 ? [] : Rotary.InverseFrequencies(config.RotaryDims, config.RopeTheta, ToTensors(config.RopeScaling));
        _act = ActivationNames.Parse(config.HiddenAct);
    }

    /// <summary>The normalized config.json.</summary>
    public ModelConfig Config { get; }

    /// <summary>HF tensor name -> offset/shape in <see cref="Parameters"/>.</summary>
    public ParameterLayout Layout { get; }

    /// <summary>All parameters, (P) floats, laid out by <see cref="Layout"/>.</summary>
    public float[] Parameters { get; }

    /// <summary>Gradients, same layout as <see cref="Parameters"/> (allocated on first use).</summary>
    public float[] Gradients => _grads ??= new float[Parameters.Length];

    /// <summary>Number of parameters.</summary>
    public long ParameterCount => Parameters.LongLength;

    /// <summary>Width of the fused q|k|v projection output.</summary>
    internal int QkvWidth => (Config.NumHeads + 2 * Config.NumKvHeads) * Config.HeadDim;

    /// <summary>Width of the first MLP projection (2I when gated).</summary>
    internal int UpWidth => Gated ? 2 * Config.IntermediateSize : Config.IntermediateSize;

    /// <summary>Llama-style gated MLP (act(gate) * up).</summary>
    internal abstract bool Gated { get; }

    /// <summary>RMSNorm (Llama) rather than LayerNorm (GPT-NeoX).</summary>
    internal abstract bool Rms { get; }

    /// <summary>Column of head <paramref name="head"/>'s q (part 0), k (1) or v (2) in the fused qkv output.</summary>
    internal abstract int QkvColumn(int part, int head);

    private protected abstract void BuildLayout(ParameterLayout layout, LayerSlots[] layers, ref GlobalSlots globals);

    /// <summary>A view of parameter <paramref name="name"/>.</summary>
    public Span<float> Parameter(string name) => View(Parameters, name);

    /// <summary>A view of the gradient of <paramref name="name"/>.</summary>
    public Span<float> Gradient(string name) => View(Gradients, name);

    private Span<float> View(float[] buffer, string name)
    {
        var e = Layout[name];
        if (ServeOnly && _inference!.Find(e.Offset, e.Size) is not null)
            throw new InvalidOperationException($"'{name}' of a serve-only model is held at {InferencePrecision} only (no f32 copy)");
        return buffer.AsSpan((int)e.Offset, (int)e.Size);
    }

    /// <summary>Zeroes every gradient (Backward accumulates).</summary>
    public void ZeroGrad() => Array.Clear(Gradients);

    /// <summary>
    /// Fills the parameters like HF's _init_weights: normal(0, std) for matrices and embeddings,
    /// zeros for biases, ones for norm weights. Deterministic for a seed.
    /// </summary>
    public void InitializeRandom(int seed, float std = 0.02f)
    {
        var rng = new Random(seed);
        foreach (var e in Layout.Entries)
        {
            var s = Parameters.AsSpan((int)e.Offset, (int)e.Size);
            if (e.Name.EndsWith("norm.weight", StringComparison.Ordinal) || e.Name.EndsWith("layernorm.weight", StringComparison.Ordinal))
                s.Fill(1f);
            else if (e.Shape.Length == 1)
                s.Clear();
            else
                for (var i = 0; i < s.Length; i++)
                    s[i] = std * (float)Normal(rng);
        }
    }

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>
    /// One AdamW step over all parameters (torch.optim.AdamW semantics), moments allocated on
    /// first use. Gradients are not zeroed.
    /// </summary>
    public void AdamWStep(float lr, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
    {
        ThrowIfServeOnly(nameof(AdamWStep));
        _m ??= new float[Parameters.Length];
        _v ??= new float[Parameters.Length];
        _adamStep++;
        R2M.Tensors.AdamW.Step(Parameters, Gradients, _m, _v, _adamStep, lr, beta1, beta2, eps, weightDecay);
    }

    /// <summary>Creates the family that <paramref name="config"/> names, parameters zero.</summary>
    public static TransformerModel Create(ModelConfig config) => config.Family switch
    {
        ModelFamily.GptNeoX => new GptNeoXModel(config),
        _ => new LlamaModel(config),
    };

    private static R2M.Tensors.RopeScaling? ToTensors(RopeScaling? s) => s is null
        ? null
        : new R2M.Tensors.RopeScaling(s.Type, (float)s.Factor, (float)s.LowFreqFactor, (float)s.HighFreqFactor, s.OriginalMaxPositionEmbeddings);

    private ActivationBuffers Buffers(int b, int t, bool training)
    {
        if (_acts is { } a && a.B == b && a.T == t && a.Training == training)
            return a;
        _acts = null;
        return _acts = new ActivationBuffers(this, b, t, training);
    }

    private ReadOnlySpan<float> P(int offset, long size) =>
        offset < 0 ? ReadOnlySpan<float>.Empty : Parameters.AsSpan(offset, (int)size);

    private Span<float> G(int offset, long size) =>
        offset < 0 ? Span<float>.Empty : Gradients.AsSpan(offset, (int)size);
}

public abstract partial class TransformerModel
{
    /// <summary>Names HF checkpoints may carry that are buffers, not parameters (ignored on load).</summary>
    internal abstract bool IsKnownBuffer(string name);
}
