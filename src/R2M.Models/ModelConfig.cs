using System.Text.Json;
using System.Text.Json.Nodes;
using R2M.Models.Safetensors;

namespace R2M.Models;

/// <summary>Which transformer family a config describes.</summary>
public enum ModelFamily
{
    /// <summary>GPT-NeoX / Pythia (<c>model_type</c> gpt_neox).</summary>
    GptNeoX,

    /// <summary>Llama, Qwen2 and Qwen3 (<c>model_type</c> llama, qwen2, qwen3).</summary>
    Llama,
}

/// <summary>Which head sits on the backbone.</summary>
public enum ModelHead
{
    /// <summary>Language-model head: logits over the vocabulary at every position.</summary>
    CausalLm,

    /// <summary>HF *ForSequenceClassification: <c>score.weight [num_labels, H]</c> at the last non-pad token.</summary>
    SequenceClassification,

    /// <summary>Open-Assistant GPTNeoXRewardModel: <c>out_proj [1, H]</c> with bias, pooling last.</summary>
    OpenAssistantReward,
}

/// <summary><c>rope_scaling</c> (transformers modeling_rope_utils).</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>
/// The subset of a HuggingFace <c>config.json</c> that the two families need, normalized
/// (defaults from transformers' configuration classes).
/// </summary>
public sealed record ModelConfig
{
    public required string ModelType { get; init; }
    public ModelFamily Family => ModelType is "gpt_neox" or "gpt_neox_reward_model" ? ModelFamily.GptNeoX : ModelFamily.Llama;
    public ModelHead Head { get; init; } = ModelHead.CausalLm;
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    public int HeadDim { get; init; }
    public required int IntermediateSize { get; init; }
    public string HiddenAct { get; init; } = "gelu";
    public double NormEps { get; init; } = 1e-5;
    /// <summary>Fraction of each head's dims that get rotary (GPT-NeoX <c>rotary_pct</c>; 1 for Llama).</summary>
    public double RotaryPct { get; init; } = 1.0;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool UseParallelResidual { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on q,k,v (and on the output projection when <see cref="OutputProjBias"/>).</summary>
    public bool QkvBias { get; init; }
    public bool OutputProjBias { get; init; }
    public bool MlpBias { get; init; }
    public int NumLabels { get; init; } = 1;
    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    /// <summary>Qwen3: RMSNorm over head_dim of every q and k head (q_norm / k_norm), before RoPE.</summary>
    public bool QkNorm => ModelType == "qwen3";

    /// <summary>Dims rotated per head: int(head_dim * rotary_pct), as HF computes it.</summary>
    public int RotaryDims => (int)(HeadDim * RotaryPct);

    /// <summary>Checks internal consistency; throws naming <paramref name="file"/> and the field.</summary>
    public void Validate(string file)
    {
        void Require(bool ok, string field, string what)
        {
            if (!ok)
                throw new CheckpointException(file, null, $"config field '{field}' {what}");
        }
        Require(VocabSize > 0, "vocab_size", "must be positive");
        Require(HiddenSize > 0, "hidden_size", "must be positive");
        Require(NumLayers >= 0, "num_hidden_layers", "must be non-negative");
        Require(NumHeads > 0, "num_attention_heads", "must be positive");
        Require(NumKvHeads > 0 && NumHeads % NumKvHeads == 0, "num_key_value_heads", $"({NumKvHeads}) must divide num_attention_heads ({NumHeads})");
        Require(HeadDim > 0, "head_dim", "must be positive");
        Require(IntermediateSize > 0, "intermediate_size", "must be positive");
        Require(RotaryDims % 2 == 0 && RotaryDims <= HeadDim, "rotary_pct", $"gives {RotaryDims} rotary dims; must be even and at most head_dim {HeadDim}");
        Require(Family != ModelFamily.GptNeoX || NumKvHeads == NumHeads, "num_key_value_heads", "must equal num_attention_heads for gpt_neox");
        Require(Family != ModelFamily.GptNeoX || HeadDim * NumHeads == HiddenSize, "hidden_size", "must be a multiple of num_attention_heads for gpt_neox");
        Require(NumLabels > 0, "num_labels", "must be positive");
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", "must be positive");
        Require(NormEps > 0, Family == ModelFamily.GptNeoX ? "layer_norm_eps" : "rms_norm_eps", "must be positive");
        Require(RopeTheta > 0, "rope_theta", "must be positive");
        Require(RotaryPct is >= 0 and <= 1, "rotary_pct", "must be in [0, 1]");
        Require(ActivationNames.IsKnown(HiddenAct), "hidden_act", $"'{HiddenAct}' is not supported (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh, silu)");
        if (RopeScaling is { } rs)
        {
            Require(rs.Type is "linear" or "llama3" or "default", "rope_scaling.rope_type", $"'{rs.Type}' is not supported (linear, llama3)");
            Require(rs.Factor > 0, "rope_scaling.factor", "must be positive");
            Require(rs.Type != "llama3" || rs.HighFreqFactor != rs.LowFreqFactor, "rope_scaling.high_freq_factor", "must differ from low_freq_factor");
        }
    }

    /// <summary>Reads and validates a config.json file.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new CheckpointException(path, null, "config.json not found");
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new CheckpointException(path, null, "config is not a JSON object");
            var cfg = ModelConfigJson.Parse(node, path);
            cfg.Validate(path);
            return cfg;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException(path, null, $"config is not valid ({e.Message})", e);
        }
    }

    /// <summary>Parses config.json text (path only names the source in errors).</summary>
    public static ModelConfig Parse(string json, string path = "config.json")
    {
        JsonNode? parsed;
        try
        {
            parsed = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, null, $"config is not valid JSON ({e.Message})", e);
        }
        var node = parsed as JsonObject ?? throw new CheckpointException(path, null, "config is not a JSON object");
        var cfg = ModelConfigJson.Parse(node, path);
        cfg.Validate(path);
        return cfg;
    }

    /// <summary>HuggingFace-style config.json text for this config.</summary>
    public string ToJson() => ModelConfigJson.Write(this);
}
