using R2M.Alignment;
using R2M.Models;

namespace R2M.Server.Internal;

/// <summary>
/// An immutable published version of the reward head (cross-attention + phi). Scoring reads one
/// snapshot by reference for a whole batch; an Update trains a private copy and publishes a new
/// snapshot with one reference swap, so no score ever mixes weights of two versions.
/// </summary>
internal sealed class HeadSnapshot(ulong version, R2MHead head)
{
    public ulong Version { get; } = version;

    /// <summary>Never mutated after publication.</summary>
    public R2MHead Head { get; } = head;
}

/// <summary>
/// The reward model: the frozen backbone (RTE = final hidden state at the last token, R2M-METHOD.md
/// section 2), the published head snapshot and the trainer (a private head + AdamW).
/// </summary>
internal sealed class RewardEngine
{
    private readonly HostedModel _backbone;
    private readonly float[] _initialHead;
    private HeadSnapshot _current;

    public RewardEngine(HostedModel backbone, int policyWidth, int attentionDim, int heads, ulong seed)
    {
        _backbone = backbone;
        var (phi, bias, hasBias) = ScoringHead(backbone.Model);
        Config = new R2MHeadConfig(backbone.Width, policyWidth, attentionDim, heads, hasBias);
        Trainer = new R2MHead(Config);
        Trainer.Initialize(phi, bias, seed);
        _initialHead = (float[])Trainer.Parameters.Clone();
        Optimizer = new AdamW(Trainer.Parameters.Length, new AdamWOptions(LearningRate: 1e-3f));
        _current = new HeadSnapshot(1, Copy(Trainer));
    }

    public R2MHeadConfig Config { get; }

    /// <summary>The trainable head; only touched under <see cref="TrainGate"/>.</summary>
    public R2MHead Trainer { get; }

    public AdamW Optimizer { get; private set; }

    public SemaphoreSlim TrainGate { get; } = new(1, 1);

    public HostedModel Backbone => _backbone;

    public HeadSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Publishes the trainer's weights as version <paramref name="version"/> (one reference swap).</summary>
    public HeadSnapshot Publish(ulong version)
    {
        var snap = new HeadSnapshot(version, Copy(Trainer));
        Volatile.Write(ref _current, snap);
        return snap;
    }

    /// <summary>Restores the startup head, fresh optimizer moments (Admin.Reset).</summary>
    public void ResetTrainer(ulong? seed)
    {
        if (seed is { } s)
        {
            var phi = _initialHead.AsSpan(Trainer.PhiOffset, Config.RmDim).ToArray();
            Trainer.Initialize(phi, Config.PhiBias ? _initialHead[^1] : 0f, s);
        }
        else
        {
            _initialHead.CopyTo(Trainer.Parameters, 0);
        }

        Optimizer = new AdamW(Trainer.Parameters.Length, Optimizer.Options);
    }

    public void RestoreOptimizer(float[] m, float[] v, long step)
    {
        Optimizer = new AdamW(Trainer.Parameters.Length, Optimizer.Options) { Step = step };
        m.CopyTo(Optimizer.M, 0);
        v.CopyTo(Optimizer.V, 0);
    }

    /// <summary>RTEs (D_rm each) of RM token sequences, one batched forward of the frozen backbone.</summary>
    public async Task<float[][]> ComputeRtesAsync(IReadOnlyList<int[]> sequences, CancellationToken ct)
    {
        int b = sequences.Count, t = sequences.Max(s => s.Length), c = _backbone.Width;
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (var i = 0; i < b; i++)
        {
            sequences[i].CopyTo(tokens, i * t);
            Array.Fill(mask, 1, i * t, sequences[i].Length);
        }

        await _backbone.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var hidden = _backbone.Model.Forward(tokens, mask, b, t).Hidden.Span;
            var result = new float[b][];
            for (var i = 0; i < b; i++)
            {
                // Right padding: the last real token of row i is at sequences[i].Length - 1.
                result[i] = hidden.Slice(((i * t) + sequences[i].Length - 1) * c, c).ToArray();
            }

            return result;
        }
        finally
        {
            _backbone.Gate.Release();
        }
    }

    private static R2MHead Copy(R2MHead source)
    {
        var head = new R2MHead(source.Config);
        source.Parameters.CopyTo(head.Parameters, 0);
        return head;
    }

    /// <summary>phi's starting point: the pretrained RM's scoring head (row 0 of score.weight, or out_proj).</summary>
    private static (float[] Phi, float Bias, bool HasBias) ScoringHead(TransformerModel rm)
    {
        var c = rm.Config.HiddenSize;
        return rm.Config.Head switch
        {
            ModelHead.SequenceClassification => (rm.Parameter("score.weight")[..c].ToArray(), 0f, false),
            ModelHead.OpenAssistantReward => (rm.Parameter("out_proj.weight")[..c].ToArray(), rm.Parameter("out_proj.bias")[0], true),
            _ => throw new InvalidOperationException(
                $"reward model '{rm.Config.ModelType}' has a causal-LM head; a reward model needs a scoring head " +
                "(architectures *ForSequenceClassification or model_type gpt_neox_reward_model)"),
        };
    }
}
