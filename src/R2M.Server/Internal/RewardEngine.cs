using System.Numerics.Tensors;
using R2M.Alignment;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>
/// An immutable published version of the reward head (cross-attention + phi). Scoring reads one
/// snapshot by reference for a whole batch; an Update trains a private head and publishes a new
/// snapshot with one reference swap, so no score ever mixes weights of two versions.
/// </summary>
internal sealed class HeadSnapshot(ulong version, R2MHead head)
{
    public ulong Version { get; } = version;

    /// <summary>Never mutated after publication (only the batcher thread runs it).</summary>
    public R2MHead Head { get; } = head;
}

/// <summary>
/// The reward model: the frozen backbone (RTE = final hidden state at the last token, docs/method.md
/// section 2), the published head snapshot, and the trainer head with its AdamW state.
/// </summary>
internal sealed class RewardEngine
{
    /// <summary>Seed of <see cref="TrainNoise"/> at startup and after Reset.</summary>
    private const ulong TrainNoiseSeed = 0x5EED;

    private readonly HostedModel _backbone;
    private readonly float[] _phi;
    private readonly float _bias;
    private readonly ulong _seed;
    private HeadSnapshot _current;

    public RewardEngine(HostedModel backbone, int policyWidth, int attentionDim, int heads, ulong seed, float learningRate)
    {
        _backbone = backbone;
        // phi starts from the pretrained RM's scoring head (score.weight row 0, or out_proj with bias).
        (_phi, _bias, var hasBias) = new TransformerRteSource(backbone.Model).ScoringHead();
        _seed = seed;
        Config = new R2MHeadConfig(backbone.Width, policyWidth, attentionDim, heads, hasBias);
        Trainer = new R2MHead(Config);
        Trainer.Initialize(_phi, _bias, seed);
        LearningRate = learningRate;
        Optimizer = new AdamWOptimizer(Trainer.Parameters.Length, new AdamWOptions(learningRate));
        _current = new HeadSnapshot(1, Copy(Trainer));
    }

    public R2MHeadConfig Config { get; }

    /// <summary>The trainable head; only touched under the admin gate.</summary>
    public R2MHead Trainer { get; }

    /// <summary>AdamW moments of <see cref="Trainer"/> (persist across Update calls).</summary>
    public AdamWOptimizer Optimizer { get; private set; }

    public float LearningRate { get; }

    /// <summary>
    /// Noise stream of R2M w/ Noise for Update (the batcher has its own). Only used under the admin gate,
    /// like checkpoint save/load, which store and restore its state.
    /// </summary>
    public Rng TrainNoise { get; } = new(TrainNoiseSeed);

    public HostedModel Backbone => _backbone;

    public HeadSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Publishes the trainer's weights as <paramref name="version"/> (one reference swap).</summary>
    public void Publish(ulong version) => Volatile.Write(ref _current, new HeadSnapshot(version, Copy(Trainer)));

    /// <summary>
    /// Restores the startup head (or re-draws the cross-attention from <paramref name="seed"/>), fresh
    /// moments and the Update noise stream's startup state (admin.proto Reset: a reset run repeats exactly).
    /// </summary>
    public void ResetTrainer(ulong? seed)
    {
        Trainer.Initialize(_phi, _bias, seed ?? _seed);
        Optimizer = new AdamWOptimizer(Trainer.Parameters.Length, new AdamWOptions(LearningRate));
        TrainNoise.SetState(new Rng(TrainNoiseSeed).GetState());
    }

    /// <summary>RTEs (D_rm each) of RM token sequences: one batched, right-padded forward of the frozen backbone.</summary>
    public async Task<float[][]> ComputeRtesAsync(IReadOnlyList<int[]> sequences, CancellationToken ct)
    {
        await _backbone.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return Forward(sequences);
        }
        finally
        {
            _backbone.Gate.Release();
        }
    }

    /// <summary>Synchronous <see cref="ComputeRtesAsync"/> for the batcher's dedicated thread.</summary>
    public float[][] ComputeRtes(IReadOnlyList<int[]> sequences, CancellationToken ct)
    {
        _backbone.Gate.Wait(ct);
        try
        {
            return Forward(sequences);
        }
        finally
        {
            _backbone.Gate.Release();
        }
    }

    /// <summary>sequences (B, T_i) -> RTEs (B, D_rm). The caller holds the backbone gate.</summary>
    private float[][] Forward(IReadOnlyList<int[]> sequences)
    {
        int b = sequences.Count, t = sequences.Max(s => s.Length), c = _backbone.Width;
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (var i = 0; i < b; i++)
        {
            sequences[i].CopyTo(tokens, i * t);
            Array.Fill(mask, 1, i * t, sequences[i].Length);
        }

        // Causal attention: right padding leaves the real tokens' states unchanged.
        var hidden = _backbone.Model.Forward(tokens, mask, b, t).Hidden.Span;
        var result = new float[b][];
        for (var i = 0; i < b; i++)
        {
            result[i] = hidden.Slice(((i * t) + sequences[i].Length - 1) * c, c).ToArray();
        }

        return result;
    }

    /// <summary>
    /// R2M w/ Noise (docs/method.md section 4): Gaussian noise with the same mean and variance as the
    /// feedback h (Rows, D_p), fresh draws from <paramref name="rng"/>.
    /// </summary>
    public static float[] NoiseLike(float[] h, Rng rng)
    {
        if (h.Length == 0) return h;
        double mean = TensorPrimitives.Sum<float>(h) / (double)h.Length;
        double meanSq = TensorPrimitives.SumOfSquares<float>(h) / (double)h.Length;
        var std = Math.Sqrt(Math.Max(meanSq - (mean * mean), 0));
        var noise = new float[h.Length];
        for (var i = 0; i < noise.Length; i++) noise[i] = (float)(mean + (std * rng.NextNormal()));
        return noise;
    }

    private static R2MHead Copy(R2MHead source)
    {
        var head = new R2MHead(source.Config);
        source.Parameters.CopyTo(head.Parameters, 0);
        return head;
    }
}
