using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace R2M.Sandbox;

/// <summary>
/// Sizes and training settings of the sandbox's tiny models (docs/sandbox.md "The tiny models").
/// Every artifact <see cref="SandboxModels"/> writes is a pure function of these, the
/// <see cref="Task"/> options and <see cref="Seed"/>; <see cref="Hash"/> names that function in the
/// manifest, so a changed setting triggers a rebuild.
///
/// The policy is a Llama-family causal LM and the reward models are GPT-NeoX-family sequence
/// classifiers of a different width, so the server's cross-attention sees two widths (D_p != D_rm)
/// and two architectures, as with real policy/RM pairs. The defaults fit the demo's budget: the
/// whole preparation takes about a minute on 2 cores (docs/sandbox.md has the measured figures).
/// </summary>
public sealed record SandboxModelOptions
{
    /// <summary>
    /// Version of the training recipe. Bump it when the code that trains the models changes in a
    /// way the options do not capture, so existing sandboxes are rebuilt.
    /// </summary>
    public const int RecipeVersion = 1;

    /// <summary>Seed of data order, initialization and evaluation sampling.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>The task and its data sets (prompt lengths, planting rates).</summary>
    public SandboxOptions Task { get; init; } = new();

    // ---- policy (Llama family: RMSNorm, SwiGLU, RoPE) ----

    public int PolicyHiddenSize { get; init; } = 64;
    public int PolicyLayers { get; init; } = 2;
    public int PolicyHeads { get; init; } = 4;
    public int PolicyIntermediateSize { get; init; } = 128;

    /// <summary>SFT examples drawn from <see cref="SandboxData.Sft"/>.</summary>
    public int SftExamples { get; init; } = 4000;

    /// <summary>Optimizer steps of SFT (batches drawn with replacement-free epochs over the examples).</summary>
    public int SftSteps { get; init; } = 600;

    public int SftBatchSize { get; init; } = 32;
    public float SftLearningRate { get; init; } = 3e-3f;

    // ---- reward models (GPT-NeoX family: LayerNorm, parallel residual, partial rotary) ----

    public int RewardHiddenSize { get; init; } = 48;
    public int RewardLayers { get; init; } = 2;
    public int RewardHeads { get; init; } = 4;
    public int RewardIntermediateSize { get; init; } = 192;

    /// <summary>Bradley-Terry pairs with the planted '!' feature (<see cref="SandboxData.RewardModelTraining"/>).</summary>
    public int RewardPairs { get; init; } = 4000;

    public int RewardSteps { get; init; } = 800;

    /// <summary>Pairs per step (2x sequences per forward).</summary>
    public int RewardBatchSize { get; init; } = 32;

    public float RewardLearningRate { get; init; } = 4e-3f;

    /// <summary>Gold-labeled pairs without planting for rm-gold (<see cref="SandboxData.GoldTraining"/>).</summary>
    public int GoldPairs { get; init; } = 2000;

    /// <summary>Fine-tuning steps of rm-gold, starting from the proxy RM.</summary>
    public int GoldSteps { get; init; } = 200;

    public float GoldLearningRate { get; init; } = 1e-3f;

    // ---- shared training and evaluation ----

    /// <summary>Global gradient-norm clip (torch clip_grad_norm_).</summary>
    public float MaxGradNorm { get; init; } = 1f;

    /// <summary>Linear warmup steps before the cosine decay of every run.</summary>
    public int WarmupSteps { get; init; } = 20;

    /// <summary>Responses sampled from the SFT policy (temperature 1) to measure gold reward and '!' rate.</summary>
    public int EvalSamples { get; init; } = 256;

    /// <summary>Most tokens a sampled evaluation response may have.</summary>
    public int EvalMaxNewTokens { get; init; } = 20;

    /// <summary>Held-out gold pairs (<see cref="SandboxData.HeldOut"/>) and training pairs used to measure RM accuracy.</summary>
    public int EvalPairs { get; init; } = 1000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad property.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Task, nameof(Task));
        Task.Validate();
        Positive(PolicyHiddenSize, nameof(PolicyHiddenSize));
        Positive(PolicyLayers, nameof(PolicyLayers));
        Positive(PolicyHeads, nameof(PolicyHeads));
        Require(PolicyHiddenSize % PolicyHeads == 0 && PolicyHiddenSize / PolicyHeads % 2 == 0, nameof(PolicyHiddenSize), PolicyHiddenSize,
            $"a multiple of PolicyHeads ({PolicyHeads}) with an even head size (RoPE rotates pairs)");
        Positive(PolicyIntermediateSize, nameof(PolicyIntermediateSize));
        Positive(SftExamples, nameof(SftExamples));
        Require(SftSteps >= 0, nameof(SftSteps), SftSteps, ">= 0");
        Positive(SftBatchSize, nameof(SftBatchSize));
        PositiveFinite(SftLearningRate, nameof(SftLearningRate));
        Positive(RewardHiddenSize, nameof(RewardHiddenSize));
        Positive(RewardLayers, nameof(RewardLayers));
        Positive(RewardHeads, nameof(RewardHeads));
        Require(RewardHiddenSize % RewardHeads == 0 && RewardHiddenSize / RewardHeads % 4 == 0, nameof(RewardHiddenSize), RewardHiddenSize,
            $"a multiple of RewardHeads ({RewardHeads}) with a head size divisible by 4 (half of it is rotary, in pairs)");
        Positive(RewardIntermediateSize, nameof(RewardIntermediateSize));
        Positive(RewardPairs, nameof(RewardPairs));
        Require(RewardSteps >= 0, nameof(RewardSteps), RewardSteps, ">= 0");
        Positive(RewardBatchSize, nameof(RewardBatchSize));
        PositiveFinite(RewardLearningRate, nameof(RewardLearningRate));
        Positive(GoldPairs, nameof(GoldPairs));
        Require(GoldSteps >= 0, nameof(GoldSteps), GoldSteps, ">= 0");
        PositiveFinite(GoldLearningRate, nameof(GoldLearningRate));
        PositiveFinite(MaxGradNorm, nameof(MaxGradNorm));
        Require(WarmupSteps >= 0, nameof(WarmupSteps), WarmupSteps, ">= 0");
        Positive(EvalSamples, nameof(EvalSamples));
        Positive(EvalMaxNewTokens, nameof(EvalMaxNewTokens));
        Positive(EvalPairs, nameof(EvalPairs));
    }

    /// <summary>
    /// SHA-256 (hex) of the canonical JSON of these options and <see cref="RecipeVersion"/>: equal
    /// hashes mean the same models. Property order is declaration order, so the text is stable.
    /// </summary>
    public string Hash()
    {
        string json = JsonSerializer.Serialize(new { RecipeVersion, Options = this });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
    }

    private static void Positive(int value, string name) => Require(value > 0, name, value, "positive");

    private static void PositiveFinite(float value, string name) => Require(value > 0 && float.IsFinite(value), name, value, "positive and finite");

    private static void Require(bool ok, string name, object value, string expected)
    {
        if (!ok)
        {
            throw new ArgumentException($"SandboxModelOptions.{name} = {value} must be {expected}", name);
        }
    }
}
