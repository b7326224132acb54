using System.Text.Json.Nodes;
using R2M.Models;
using R2M.Sandbox;

namespace R2M.Server.Tests;

/// <summary>
/// Tiny HuggingFace-format model directories made with R2M.Models, created once per test run: a GPT-NeoX
/// policy (D_p 16), a Llama sequence-classification RM (D_rm 24) with the same sandbox tokenizer, and
/// an RM with a different (character-level) tokenizer, so policy and RM tokenize differently.
/// </summary>
internal static class TestModels
{
    public const int PolicyWidth = 16;
    public const int RmWidth = 24;
    public const int Context = 48;

    private static readonly Lazy<string> Root = new(Create);

    public static string PolicyDir => Path.Combine(Root.Value, "policy");
    public static string RewardDir => Path.Combine(Root.Value, "rm");
    public static string CharRewardDir => Path.Combine(Root.Value, "rm-char");

    private static string Create()
    {
        var root = Path.Combine(Path.GetTempPath(), $"r2m-server-tests-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var v = SandboxVocabulary.VocabSize;
        var policy = TransformerModel.Create(ModelConfig.Parse(
            $$"""{"model_type":"gpt_neox","vocab_size":{{v}},"hidden_size":{{PolicyWidth}},"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":32,"rotary_pct":0.5,"use_parallel_residual":true,"bos_token_id":1,"eos_token_id":2,"max_position_embeddings":{{Context}}}"""));
        policy.InitializeRandom(1, 0.2f);
        Save(policy, Path.Combine(root, "policy"), SandboxVocabulary.TokenizerJson());
        var rm = RewardModel(v);
        Save(rm, Path.Combine(root, "rm"), SandboxVocabulary.TokenizerJson());
        Save(rm, Path.Combine(root, "rm-char"), CharacterLevel(SandboxVocabulary.TokenizerJson()));
        return root;
    }

    private static TransformerModel RewardModel(int vocab)
    {
        var rm = TransformerModel.Create(ModelConfig.Parse(
            $$"""{"model_type":"llama","architectures":["LlamaForSequenceClassification"],"num_labels":1,"vocab_size":{{vocab}},"hidden_size":{{RmWidth}},"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":32,"hidden_act":"silu","rms_norm_eps":1e-6,"bos_token_id":1,"eos_token_id":2,"pad_token_id":0,"max_position_embeddings":{{Context}}}"""));
        rm.InitializeRandom(2, 0.3f);
        return rm;
    }

    private static void Save(TransformerModel model, string dir, string tokenizerJson)
    {
        ModelCheckpoint.Save(model, dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizerJson);
    }

    /// <summary>The sandbox tokenizer without its merges: every character is its own token.</summary>
    private static string CharacterLevel(string json)
    {
        var node = JsonNode.Parse(json)!;
        node["model"]!["merges"] = new JsonArray();
        return node.ToJsonString();
    }
}
