using R2M.Models;
using R2M.Tensors;

namespace R2M.Sandbox.Internal;

/// <summary>
/// The sandbox policy: a Llama-family causal LM (RMSNorm, SwiGLU, RoPE, untied head) over the
/// sandbox vocabulary, fine-tuned with token-level cross-entropy on the responses of the SFT
/// mixture (the prompt tokens carry no loss, as in the usual SFT of instruction data).
/// </summary>
internal static class PolicySft
{
    /// <summary>Positions a sandbox sequence can reach: prompt (up to 15 tokens) plus generous room for responses.</summary>
    public const int ContextLength = 64;

    public static ModelConfig Config(SandboxModelOptions o) => new()
    {
        ModelType = "llama",
        Head = ModelHead.CausalLm,
        VocabSize = SandboxVocabulary.VocabSize,
        HiddenSize = o.PolicyHiddenSize,
        NumLayers = o.PolicyLayers,
        NumHeads = o.PolicyHeads,
        NumKvHeads = o.PolicyHeads,
        HeadDim = o.PolicyHiddenSize / o.PolicyHeads,
        IntermediateSize = o.PolicyIntermediateSize,
        HiddenAct = "silu",
        NormEps = 1e-5,
        MaxPositionEmbeddings = ContextLength,
        BosTokenId = SandboxVocabulary.BosId,
        EosTokenIds = [SandboxVocabulary.EosId],
        PadTokenId = SandboxVocabulary.PadId,
    };

    /// <summary>A freshly initialized policy (HF-style normal(0, 0.02) init, deterministic for the seed).</summary>
    public static TransformerModel Create(SandboxModelOptions o)
    {
        var model = TransformerModel.Create(Config(o));
        model.InitializeRandom(InitSeed(o.Seed, SeedStreams.PolicyInit));
        return model;
    }

    /// <summary>Runs <see cref="SandboxModelOptions.SftSteps"/> AdamW steps of response cross-entropy; returns the loss per step.</summary>
    public static TrainingCurve Train(TransformerModel model, IReadOnlyList<SftExample> examples, SandboxModelOptions o,
        Action<int, float>? onStep, CancellationToken ct)
    {
        var encoded = examples.Select(e => SandboxVocabulary.EncodeExample(e.Prompt.Text, e.Response)).ToArray();
        return TrainingCurve.Run(encoded, o.SftSteps, o.SftBatchSize, o.SftLearningRate, SeedStreams.SftOrder, o,
            (rows, lr) => Step(model, rows, lr, o.MaxGradNorm), onStep, ct);
    }

    /// <summary>Mean response cross-entropy (nats/token) of <paramref name="rows"/> under the model, no update.</summary>
    public static double Loss(TransformerModel model, IReadOnlyList<(int[] Ids, int PromptLength)> rows)
    {
        var batch = SequenceBatch.Build(rows.Select(r => r.Ids).ToArray());
        var logp = new float[batch.Batch * (batch.SeqLen - 1)];
        model.LogProbs(batch.Tokens, batch.Mask, batch.Batch, batch.SeqLen, logp);
        var (weights, _) = ResponseWeights(rows, batch.SeqLen);
        double sum = 0;
        for (int i = 0; i < logp.Length; i++)
        {
            sum -= weights[i] * logp[i];
        }
        return sum;
    }

    private static float Step(TransformerModel model, (int[] Ids, int PromptLength)[] rows, float lr, float maxNorm)
    {
        var batch = SequenceBatch.Build(rows.Select(r => r.Ids).ToArray());
        var logp = new float[batch.Batch * (batch.SeqLen - 1)];
        model.LogProbs(batch.Tokens, batch.Mask, batch.Batch, batch.SeqLen, logp, training: true);
        var (weights, _) = ResponseWeights(rows, batch.SeqLen);
        double loss = 0;
        var dLogp = new float[logp.Length];
        for (int i = 0; i < logp.Length; i++)
        {
            // loss = -sum(w * logp), so dloss/dlogp = -w.
            loss -= weights[i] * logp[i];
            dLogp[i] = -weights[i];
        }
        model.ZeroGrad();
        model.BackwardLogProbs(dLogp, default);
        GradClip.ClipByGlobalNorm(model.Gradients, maxNorm);
        model.AdamWStep(lr);
        return (float)loss;
    }

    /// <summary>
    /// weights (B, T-1): 1/count at every position t whose target token t+1 is a response token
    /// (index >= PromptLength, &lt;eos&gt; included), 0 elsewhere; so the loss is a per-token mean.
    /// </summary>
    private static (float[] Weights, int Count) ResponseWeights(IReadOnlyList<(int[] Ids, int PromptLength)> rows, int t)
    {
        var weights = new float[rows.Count * (t - 1)];
        int count = rows.Sum(r => r.Ids.Length - r.PromptLength);
        float w = 1f / Math.Max(1, count);
        for (int b = 0; b < rows.Count; b++)
        {
            for (int target = rows[b].PromptLength; target < rows[b].Ids.Length; target++)
            {
                weights[(b * (t - 1)) + target - 1] = w;
            }
        }
        return (weights, count);
    }

    /// <summary>An int seed for <c>InitializeRandom</c> from a sub-stream of the sandbox seed.</summary>
    public static int InitSeed(ulong seed, ulong stream) => (int)(SandboxRandom.Derive(seed, stream).NextUInt64() & int.MaxValue);
}
