using System.Text.Json;
using System.Text.Json.Nodes;
using R2M.Models.Safetensors;

namespace R2M.Models;

/// <summary>
/// config.json <-> <see cref="ModelConfig"/>. Key names and defaults follow transformers'
/// GPTNeoXConfig, LlamaConfig, Qwen2Config and Qwen3Config, including the v5 spellings under
/// <c>rope_parameters</c>. Strict: a field of the wrong JSON type is an error naming it (a JSON
/// null counts as absent, as transformers reads it).
/// </summary>
internal static class ModelConfigJson
{
    public static ModelConfig Parse(JsonObject o, string path)
    {
        var r = new ConfigReader(o, path);
        var type = r.Str("model_type") ?? throw new CheckpointException(path, null, "config field 'model_type' is missing");
        if (type is not ("gpt_neox" or "gpt_neox_reward_model" or "llama" or "qwen2" or "qwen3"))
            throw new CheckpointException(path, null, $"config field 'model_type' is '{type}'; supported: gpt_neox, gpt_neox_reward_model, llama, qwen2, qwen3");
        var neox = type.StartsWith("gpt_neox", StringComparison.Ordinal);
        var rope = r.Obj("rope_parameters");
        // Structural values are checked before any arithmetic uses them (head_dim = hidden / heads).
        var hidden = r.Positive("hidden_size");
        var heads = r.Positive("num_attention_heads");
        if (r.Bool("use_sliding_window") == true)
            throw new CheckpointException(path, null, "config field 'use_sliding_window' is true; sliding-window attention is not supported");
        var attnBias = r.Bool("attention_bias");
        var head = type == "gpt_neox_reward_model" ? ModelHead.OpenAssistantReward
            : r.Strings("architectures").Any(a => a.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) ? ModelHead.SequenceClassification
            : ModelHead.CausalLm;
        return new ModelConfig
        {
            ModelType = type,
            Head = head,
            VocabSize = r.Positive("vocab_size"),
            HiddenSize = hidden,
            NumLayers = r.Int("num_hidden_layers") ?? throw new CheckpointException(path, null, "config field 'num_hidden_layers' is missing"),
            NumHeads = heads,
            NumKvHeads = neox ? heads : r.Int("num_key_value_heads") ?? heads,
            // Qwen3Config's head_dim defaults to 128, not hidden_size / num_attention_heads.
            HeadDim = neox ? hidden / heads : r.Int("head_dim") ?? (type == "qwen3" ? 128 : hidden / heads),
            IntermediateSize = r.Int("intermediate_size") ?? throw new CheckpointException(path, null, "config field 'intermediate_size' is missing"),
            HiddenAct = r.Str("hidden_act") ?? (neox ? "gelu" : "silu"),
            NormEps = neox ? r.Dbl("layer_norm_eps") ?? 1e-5 : r.Dbl("rms_norm_eps") ?? 1e-6,
            RotaryPct = neox ? r.Dbl("rotary_pct") ?? r.Dbl("partial_rotary_factor") ?? ConfigReader.Dbl(rope, "partial_rotary_factor", path, "rope_parameters.") ?? 0.25 : 1.0,
            RopeTheta = (neox ? r.Dbl("rotary_emb_base") : null) ?? r.Dbl("rope_theta") ?? ConfigReader.Dbl(rope, "rope_theta", path, "rope_parameters.") ?? 10000,
            RopeScaling = ParseScaling(r.Obj("rope_scaling") ?? rope, path),
            MaxPositionEmbeddings = r.Int("max_position_embeddings") ?? 2048,
            UseParallelResidual = neox && (r.Bool("use_parallel_residual") ?? true),
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            QkvBias = neox ? attnBias ?? true : type == "qwen2" || (attnBias ?? false),
            OutputProjBias = neox ? attnBias ?? true : type != "qwen2" && (attnBias ?? false),
            MlpBias = neox || (r.Bool("mlp_bias") ?? false),
            NumLabels = head == ModelHead.OpenAssistantReward ? 1
                : r.Obj("id2label")?.Count ?? r.Int("num_labels") ?? (head == ModelHead.SequenceClassification ? 2 : 1),
            BosTokenId = r.Int("bos_token_id"),
            EosTokenIds = r.IntOrInts("eos_token_id"),
            PadTokenId = r.Int("pad_token_id"),
        };
    }

    private static RopeScaling? ParseScaling(JsonObject? s, string path)
    {
        if (s is null)
            return null;
        var r = new ConfigReader(s, path, "rope_scaling.");
        var type = r.Str("rope_type") ?? r.Str("type");
        if (type is null or "default")
            return null;
        var factor = r.Dbl("factor") ?? throw r.Missing("factor");
        if (type == "llama3")
        {
            return new RopeScaling(type, factor, r.Dbl("low_freq_factor") ?? throw r.Missing("low_freq_factor"),
                r.Dbl("high_freq_factor") ?? throw r.Missing("high_freq_factor"),
                r.Int("original_max_position_embeddings") ?? throw r.Missing("original_max_position_embeddings"));
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
}
