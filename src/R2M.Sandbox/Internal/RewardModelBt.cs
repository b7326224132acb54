using R2M.Models;
using R2M.Tensors;

namespace R2M.Sandbox.Internal;

/// <summary>
/// The sandbox reward models: a GPT-NeoX-family sequence classifier (LayerNorm, parallel residual,
/// half-rotary heads, <c>score.weight [1, H]</c> read at the last non-pad token, as HF
/// GPTNeoXForSequenceClassification does) trained with the Bradley-Terry loss
/// -log sigmoid(r(chosen) - r(rejected)) (docs/method.md section 2, the standard RM objective).
/// Sequences are &lt;bos&gt; prompt response &lt;eos&gt;, the same tokens the server feeds it.
/// </summary>
internal static class RewardModelBt
{
    public static ModelConfig Config(SandboxModelOptions o) => new()
    {
        ModelType = "gpt_neox",
        Head = ModelHead.SequenceClassification,
        VocabSize = SandboxVocabulary.VocabSize,
        HiddenSize = o.RewardHiddenSize,
        NumLayers = o.RewardLayers,
        NumHeads = o.RewardHeads,
        NumKvHeads = o.RewardHeads,
        HeadDim = o.RewardHiddenSize / o.RewardHeads,
        IntermediateSize = o.RewardIntermediateSize,
        HiddenAct = "gelu",
        NormEps = 1e-5,
        RotaryPct = 0.5,
        MaxPositionEmbeddings = PolicySft.ContextLength,
        UseParallelResidual = true,
        QkvBias = true,
        OutputProjBias = true,
        MlpBias = true,
        NumLabels = 1,
        BosTokenId = SandboxVocabulary.BosId,
        EosTokenIds = [SandboxVocabulary.EosId],
        PadTokenId = SandboxVocabulary.PadId,
    };

    public static TransformerModel Create(SandboxModelOptions o)
    {
        var model = TransformerModel.Create(Config(o));
        model.InitializeRandom(PolicySft.InitSeed(o.Seed, SeedStreams.RewardInit));
        return model;
    }

    /// <summary>AdamW steps of the BT loss over <paramref name="pairs"/>; returns the loss per step.</summary>
    public static TrainingCurve Train(TransformerModel model, IReadOnlyList<PreferencePair> pairs, int steps, int batchSize,
        float peakLr, ulong orderStream, SandboxModelOptions o, Action<int, float>? onStep, CancellationToken ct)
    {
        var encoded = pairs.Select(Encode).ToArray();
        return TrainingCurve.Run(encoded, steps, batchSize, peakLr, orderStream, o,
            (rows, lr) => Step(model, rows, lr, o.MaxGradNorm), onStep, ct);
    }

    /// <summary>(chosen, rejected) token sequences of a pair.</summary>
    public static (int[] Chosen, int[] Rejected) Encode(PreferencePair p) =>
        (SandboxVocabulary.EncodeExample(p.Prompt.Text, p.Chosen).Ids, SandboxVocabulary.EncodeExample(p.Prompt.Text, p.Rejected).Ids);

    /// <summary>Scores of token sequences, in batches (no training state is kept).</summary>
    public static double[] Score(TransformerModel model, IReadOnlyList<int[]> sequences, int batchSize = 64)
    {
        var scores = new double[sequences.Count];
        for (int start = 0; start < sequences.Count; start += batchSize)
        {
            var rows = sequences.Skip(start).Take(batchSize).ToArray();
            var batch = SequenceBatch.Build(rows);
            var r = model.Forward(batch.Tokens, batch.Mask, batch.Batch, batch.SeqLen);
            var s = r.Scores.Span;
            for (int i = 0; i < rows.Length; i++)
            {
                scores[start + i] = s[i];
            }
        }
        return scores;
    }

    /// <summary>Mean BT loss of <paramref name="pairs"/> under the model, no update.</summary>
    public static double Loss(TransformerModel model, IReadOnlyList<PreferencePair> pairs)
    {
        var enc = pairs.Select(Encode).ToArray();
        var chosen = Score(model, enc.Select(e => e.Chosen).ToArray());
        var rejected = Score(model, enc.Select(e => e.Rejected).ToArray());
        double sum = 0;
        for (int i = 0; i < chosen.Length; i++)
        {
            sum += Softplus(rejected[i] - chosen[i]);
        }
        return sum / Math.Max(1, chosen.Length);
    }

    /// <summary>
    /// One step: chosen rows 0..P-1 and rejected rows P..2P-1 in one forward. With m = r_c - r_r,
    /// loss = mean softplus(-m), dloss/dr_c = -sigmoid(-m)/P and dloss/dr_r = +sigmoid(-m)/P.
    /// </summary>
    private static float Step(TransformerModel model, (int[] Chosen, int[] Rejected)[] pairs, float lr, float maxNorm)
    {
        int p = pairs.Length;
        var batch = SequenceBatch.Build([.. pairs.Select(x => x.Chosen), .. pairs.Select(x => x.Rejected)]);
        var scores = model.Forward(batch.Tokens, batch.Mask, batch.Batch, batch.SeqLen, training: true).Scores.Span;
        var dScores = new float[2 * p];
        double loss = 0;
        for (int i = 0; i < p; i++)
        {
            double margin = scores[i] - scores[p + i];
            loss += Softplus(-margin);
            float g = (float)(Sigmoid(-margin) / p);
            dScores[i] = -g;
            dScores[p + i] = g;
        }
        model.ZeroGrad();
        model.Backward(default, default, dScores);
        GradClip.ClipByGlobalNorm(model.Gradients, maxNorm);
        model.AdamWStep(lr);
        return (float)(loss / p);
    }

    // Stable forms: softplus(x) = max(x, 0) + log1p(exp(-|x|)).
    private static double Softplus(double x) => Math.Max(x, 0) + Math.Log(1 + Math.Exp(-Math.Abs(x)));

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));
}
