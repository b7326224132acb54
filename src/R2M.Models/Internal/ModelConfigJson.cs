using System.Text.Json;
using System.Text.Json.Nodes;
using R2M.Models.Safetensors;

namespace R2M.Models;

/// <summary>
/// config.json <-> <see cref="ModelConfig"/>. Key names and defaults follow transformers'
/// GPTNeoXConfig, LlamaConfig and Qwen2Config (REFERENCE.md section 3), including the v5
/// spellings under <c>rope_parameters</c>.
/// </summary>
internal static class ModelConfigJson
{
    public static ModelConfig Parse(JsonObject o, string path)
    {
        var type = Str(o, "model_type") ?? throw new CheckpointException(path, null, "config field 'model_type' is missing");
        if (type is not ("gpt_neox" or "gpt_neox_reward_model" or "llama" or "qwen2" or "qwen3"))
            throw new CheckpointException(path, null, $"config field 'model_type' is '{type}'; supported: gpt_neox, gpt_neox_reward_model, llama, qwen2, qwen3");
        var neox = type.StartsWith("gpt_neox", StringComparison.Ordinal);
        var rope = o["rope_parameters"] as JsonObject;
        int Req(string key) => Int(o, key) ?? throw new CheckpointException(path, null, $"config field '{key}' is missing");
        var hidden = Req("hidden_size");
        var heads = Req("num_attention_heads");
        var attnBias = Bool(o, "attention_bias");
        var head = type == "gpt_neox_reward_model" ? ModelHead.OpenAssistantReward
            : Architectures(o).Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) ? ModelHead.SequenceClassification
            : ModelHead.CausalLm;
        return new ModelConfig
        {
            ModelType = type,
            Head = head,
            VocabSize = Req("vocab_size"),
            HiddenSize = hidden,
            NumLayers = Req("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = neox ? heads : Int(o, "num_key_value_heads") ?? heads,
            // Qwen3Config's head_dim defaults to 128, not hidden_size / num_attention_heads.
            HeadDim = neox ? hidden / heads : Int(o, "head_dim") ?? (type == "qwen3" ? 128 : hidden / heads),
            IntermediateSize = Req("intermediate_size"),
            HiddenAct = Str(o, "hidden_act") ?? (neox ? "gelu" : "silu"),
            NormEps = neox ? Dbl(o, "layer_norm_eps") ?? 1e-5 : Dbl(o, "rms_norm_eps") ?? 1e-6,
            RotaryPct = neox ? Dbl(o, "rotary_pct") ?? Dbl(o, "partial_rotary_factor") ?? Dbl(rope, "partial_rotary_factor") ?? 0.25 : 1.0,
            RopeTheta = (neox ? Dbl(o, "rotary_emb_base") : null) ?? Dbl(o, "rope_theta") ?? Dbl(rope, "rope_theta") ?? 10000,
            RopeScaling = ParseScaling(o["rope_scaling"] as JsonObject ?? rope, path),
            MaxPositionEmbeddings = Int(o, "max_position_embeddings") ?? 2048,
            UseParallelResidual = neox && (Bool(o, "use_parallel_residual") ?? true),
            TieWordEmbeddings = Bool(o, "tie_word_embeddings") ?? false,
            QkvBias = neox ? attnBias ?? true : type == "qwen2" || (attnBias ?? false),
            OutputProjBias = neox ? attnBias ?? true : type != "qwen2" && (attnBias ?? false),
            MlpBias = neox || (Bool(o, "mlp_bias") ?? false),
            NumLabels = head == ModelHead.OpenAssistantReward ? 1
                : (o["id2label"] as JsonObject)?.Count ?? Int(o, "num_labels") ?? (head == ModelHead.SequenceClassification ? 2 : 1),
            BosTokenId = Int(o, "bos_token_id"),
            EosTokenIds = IntList(o["eos_token_id"]),
            PadTokenId = Int(o, "pad_token_id"),
        };
    }

    private static RopeScaling? ParseScaling(JsonObject? s, string path)
    {
        if (s is null)
            return null;
        var type = Str(s, "rope_type") ?? Str(s, "type");
        if (type is null or "default")
            return null;
        var factor = Dbl(s, "factor") ?? throw new CheckpointException(path, null, "config field 'rope_scaling.factor' is missing");
        if (type == "llama3")
        {
            return new RopeScaling(type, factor,
                Dbl(s, "low_freq_factor") ?? throw new CheckpointException(path, null, "config field 'rope_scaling.low_freq_factor' is missing"),
                Dbl(s, "high_freq_factor") ?? throw new CheckpointException(path, null, "config field 'rope_scaling.high_freq_factor' is missing"),
                Int(s, "original_max_position_embeddings") ?? throw new CheckpointException(path, null, "config field 'rope_scaling.original_max_position_embeddings' is missing"));
        }
        return new RopeScaling(type, factor);
    }

    public static string Write(ModelConfig c)
    {
        var neox = c.Family == ModelFamily.GptNeoX;
        var o = new JsonObject
        {
            ["model_type"] = c.ModelType,
            ["architectures"] = new JsonArray(ArchitectureName(c)),
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.HiddenSize,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["intermediate_size"] = c.IntermediateSize,
            ["hidden_act"] = c.HiddenAct,
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["tie_word_embeddings"] = c.TieWordEmbeddings,
        };
        if (neox)
        {
            o["rotary_pct"] = c.RotaryPct;
            o["rotary_emb_base"] = c.RopeTheta;
            o["layer_norm_eps"] = c.NormEps;
            o["use_parallel_residual"] = c.UseParallelResidual;
            o["attention_bias"] = c.QkvBias;
        }
        else
        {
            o["num_key_value_heads"] = c.NumKvHeads;
            o["head_dim"] = c.HeadDim;
            o["rms_norm_eps"] = c.NormEps;
            o["rope_theta"] = c.RopeTheta;
            if (c.ModelType != "qwen2")
                o["attention_bias"] = c.QkvBias;
            o["mlp_bias"] = c.MlpBias;
            if (c.RopeScaling is { } rs)
            {
                var s = new JsonObject { ["rope_type"] = rs.Type, ["factor"] = rs.Factor };
                if (rs.Type == "llama3")
                {
                    s["low_freq_factor"] = rs.LowFreqFactor;
                    s["high_freq_factor"] = rs.HighFreqFactor;
                    s["original_max_position_embeddings"] = rs.OriginalMaxPositionEmbeddings;
                }
                o["rope_scaling"] = s;
            }
        }
        if (c.Head == ModelHead.SequenceClassification)
            o["num_labels"] = c.NumLabels;
        if (c.BosTokenId is { } bos)
            o["bos_token_id"] = bos;
        if (c.EosTokenIds.Length == 1)
            o["eos_token_id"] = c.EosTokenIds[0];
        else if (c.EosTokenIds.Length > 1)
            o["eos_token_id"] = new JsonArray(c.EosTokenIds.Select(x => (JsonNode)x).ToArray());
        if (c.PadTokenId is { } pad)
            o["pad_token_id"] = pad;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static string ArchitectureName(ModelConfig c) => (c.ModelType, c.Head) switch
    {
        (_, ModelHead.OpenAssistantReward) => "GPTNeoXRewardModel",
        ("gpt_neox", ModelHead.SequenceClassification) => "GPTNeoXForSequenceClassification",
        ("gpt_neox", _) => "GPTNeoXForCausalLM",
        ("qwen2", ModelHead.SequenceClassification) => "Qwen2ForSequenceClassification",
        ("qwen2", _) => "Qwen2ForCausalLM",
        ("qwen3", ModelHead.SequenceClassification) => "Qwen3ForSequenceClassification",
        ("qwen3", _) => "Qwen3ForCausalLM",
        (_, ModelHead.SequenceClassification) => "LlamaForSequenceClassification",
        _ => "LlamaForCausalLM",
    };

    private static IEnumerable<string> Architectures(JsonObject o) =>
        o["architectures"] is JsonArray a ? a.Select(x => x?.GetValue<string>() ?? "") : [];

    private static string? Str(JsonObject? o, string key) =>
        o?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonObject? o, string key) =>
        o?[key] is JsonValue v && v.TryGetValue<double>(out var d) && d == Math.Floor(d) ? (int)d : null;

    private static double? Dbl(JsonObject? o, string key) =>
        o?[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    private static bool? Bool(JsonObject? o, string key) =>
        o?[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;

    private static int[] IntList(JsonNode? n) => n switch
    {
        JsonArray a => a.Select(x => x is JsonValue v && v.TryGetValue<double>(out var d) ? (int)d : -1).Where(x => x >= 0).ToArray(),
        JsonValue v when v.TryGetValue<double>(out var d) => [(int)d],
        _ => [],
    };
}
