using System.Text.Json.Nodes;
using R2M.Models.Safetensors;

namespace R2M.Models.Tests;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = TestSupport.NewTempDir("ckpt");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<SafetensorsEntry> Entries(TransformerModel m) =>
        m.Layout.Entries.Select(e => new SafetensorsEntry(e.Name, e.Shape.Select(d => (long)d).ToArray(),
            m.Parameters.AsMemory((int)e.Offset, (int)e.Size))).ToList();

    [Fact]
    public void SaveLoad_BothFamilies_RoundTripExact()
    {
        foreach (var cfg in new[] { TestModels.NeoX(), TestModels.Llama() })
        {
            var m = TestModels.Create(cfg);
            var dir = Path.Combine(_dir, cfg.ModelType);
            ModelCheckpoint.Save(m, dir);
            var loaded = ModelCheckpoint.Load(dir);
            Assert.Equal(m.GetType(), loaded.GetType());
            Assert.Equal(m.Parameters, loaded.Parameters);
            Assert.Equal(cfg with { }, loaded.Config with { EosTokenIds = cfg.EosTokenIds });
        }
    }

    [Fact]
    public void Load_Bf16Checkpoint_ValuesRoundedToBf16()
    {
        var m = TestModels.Create(TestModels.Llama());
        var dir = Path.Combine(_dir, "bf16");
        ModelCheckpoint.Save(m, dir, SafetensorsDtype.BF16);
        var loaded = ModelCheckpoint.Load(dir);
        for (var i = 0; i < m.Parameters.Length; i++)
            Assert.True(Math.Abs(loaded.Parameters[i] - m.Parameters[i]) <= 4e-3 * Math.Abs(m.Parameters[i]), $"param {i}");
    }

    [Fact]
    public void Load_MissingTensor_NamesFileTensorAndShape()
    {
        var m = TestModels.Create(TestModels.NeoX());
        var dir = Path.Combine(_dir, "missing");
        ModelCheckpoint.Save(m, dir);
        var entries = Entries(m).Where(e => e.Name != "gpt_neox.layers.1.attention.dense.weight").ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(dir));
        Assert.Equal("gpt_neox.layers.1.attention.dense.weight", e.TensorName);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("[32, 32]", e.Message);
    }

    [Fact]
    public void Load_WrongShapeForConfig_NamesBothShapes()
    {
        var m = TestModels.Create(TestModels.Llama());
        var dir = Path.Combine(_dir, "shape");
        ModelCheckpoint.Save(m, dir);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        cfg["intermediate_size"] = 40;
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(dir));
        Assert.Equal("model.layers.0.mlp.gate_proj.weight", e.TensorName);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("[48, 32]", e.Message);
        Assert.Contains("[40, 32]", e.Message);
    }

    [Fact]
    public void Load_UnexpectedTensor_NamedButKnownBuffersIgnored()
    {
        var m = TestModels.Create(TestModels.NeoX());
        var dir = Path.Combine(_dir, "extra");
        ModelCheckpoint.Save(m, dir);
        var entries = Entries(m);
        entries.Add(new("gpt_neox.layers.0.attention.rotary_emb.inv_freq", [4], new float[4]));
        entries.Add(new("gpt_neox.layers.0.attention.masked_bias", [], new float[1]));
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        Assert.Equal(m.Parameters, ModelCheckpoint.Load(dir).Parameters);
        entries.Add(new("gpt_neox.layers.9.mystery", [2], new float[2]));
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), entries);
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(dir));
        Assert.Equal("gpt_neox.layers.9.mystery", e.TensorName);
        Assert.Contains("unexpected", e.Message);
    }

    [Fact]
    public void Load_ShardedCheckpoint_LoadsAndReportsMissingShard()
    {
        var m = TestModels.Create(TestModels.Llama());
        var dir = Path.Combine(_dir, "sharded");
        ModelCheckpoint.Save(m, dir);
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var entries = Entries(m);
        var half = entries.Count / 2;
        SafetensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), entries[..half]);
        SafetensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), entries[half..]);
        var map = new JsonObject();
        for (var i = 0; i < entries.Count; i++)
            map[entries[i].Name] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        var index = new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map };
        File.WriteAllText(Path.Combine(dir, CheckpointReader.IndexFileName), index.ToJsonString());
        Assert.Equal(m.Parameters, ModelCheckpoint.Load(dir).Parameters);
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(dir));
        Assert.Contains("model-00002-of-00002.safetensors", e.Message);
        Assert.Contains(CheckpointReader.IndexFileName, e.Message);
        Assert.Equal(entries[half].Name, e.TensorName);
    }

    [Fact]
    public void Load_CorruptWeights_ThrowsCheckpointExceptionNotCrash()
    {
        var m = TestModels.Create(TestModels.NeoX());
        var dir = Path.Combine(_dir, "corrupt");
        ModelCheckpoint.Save(m, dir);
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<SafetensorsException>(() => ModelCheckpoint.Load(dir));
        Assert.NotNull(e.TensorName);
        Assert.Contains(path, e.Message);
    }
}

public sealed class ModelConfigTests
{
    [Fact]
    public void Parse_LlamaWithLlama3Scaling_ReadsEveryField()
    {
        var c = ModelConfig.Parse("""
            {"model_type":"llama","architectures":["LlamaForCausalLM"],"vocab_size":128,"hidden_size":64,"intermediate_size":96,
             "num_hidden_layers":2,"num_attention_heads":8,"num_key_value_heads":2,"head_dim":16,"rms_norm_eps":1e-5,
             "rope_theta":500000.0,"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
             "original_max_position_embeddings":8192},"tie_word_embeddings":true,"eos_token_id":[1,2],"bos_token_id":0}
            """);
        Assert.Equal(ModelFamily.Llama, c.Family);
        Assert.Equal((8, 2, 16, 16), (c.NumHeads, c.NumKvHeads, c.HeadDim, c.RotaryDims));
        Assert.Equal(new RopeScaling("llama3", 8, 1, 4, 8192), c.RopeScaling);
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.QkvBias);
        Assert.Equal([1, 2], c.EosTokenIds);
        Assert.Equal(1e-5, c.NormEps);
    }

    [Fact]
    public void Parse_GptNeoXDefaultsAndV5Spellings()
    {
        var c = ModelConfig.Parse("""
            {"model_type":"gpt_neox","vocab_size":50304,"hidden_size":768,"intermediate_size":3072,"num_hidden_layers":12,
             "num_attention_heads":12,"rope_parameters":{"rope_theta":20000,"partial_rotary_factor":0.5}}
            """);
        Assert.Equal((64, 32), (c.HeadDim, c.RotaryDims));
        Assert.Equal(20000, c.RopeTheta);
        Assert.True(c.UseParallelResidual);
        Assert.True(c.QkvBias && c.OutputProjBias);
        Assert.Equal("gelu", c.HiddenAct);
        Assert.Equal(ModelHead.CausalLm, c.Head);
    }

    [Fact]
    public void Parse_Qwen2_QkvBiasWithoutOutputBias()
    {
        var c = ModelConfig.Parse("""
            {"model_type":"qwen2","architectures":["Qwen2ForSequenceClassification"],"vocab_size":100,"hidden_size":32,
             "intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":2,"num_labels":1,
             "pad_token_id":0}
            """);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputProjBias);
        Assert.Equal(ModelHead.SequenceClassification, c.Head);
        Assert.Equal(1, c.NumLabels);
        var m = TransformerModel.Create(c);
        Assert.True(m.Layout.Contains("model.layers.0.self_attn.k_proj.bias"));
        Assert.False(m.Layout.Contains("model.layers.0.self_attn.o_proj.bias"));
    }

    [Theory]
    [InlineData("{\"model_type\":\"bert\"}", "'bert'")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10}", "'hidden_size' is missing")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":3}", "num_key_value_heads")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"hidden_act\":\"tanhh\"}", "hidden_act")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":2}}", "yarn")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":-2}", "'num_attention_heads' is -2")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"tie_word_embeddings\":\"yes\"}", "'tie_word_embeddings' must be true or false")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"eos_token_id\":[2,\"x\"]}", "'eos_token_id[1]' must be an integer")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"architectures\":\"LlamaForCausalLM\"}", "'architectures' must be an array")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":\"2\"}}", "'rope_scaling.factor' must be a number")]
    [InlineData("{\"model_type\":\"qwen3\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"use_sliding_window\":true}", "use_sliding_window")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8.5,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2}", "'hidden_size' must be an integer")]
    [InlineData("{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rms_norm_eps\":0}", "'rms_norm_eps' must be positive")]
    [InlineData("{\"model_type\":\"llama\",", "not valid JSON")]
    public void Parse_BadConfig_NamesField(string json, string expected)
    {
        var e = Assert.Throws<CheckpointException>(() => ModelConfig.Parse(json, "cfg.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("cfg.json", e.Message);
    }

    [Fact]
    public void Load_ConfigTooLargeToAllocate_CheckpointExceptionNamingConfig()
    {
        var dir = TestSupport.NewTempDir("huge");
        try
        {
            var path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, "{\"model_type\":\"llama\",\"vocab_size\":2000000000,\"hidden_size\":2000000000,\"intermediate_size\":8," +
                                    "\"num_hidden_layers\":1,\"num_attention_heads\":1,\"head_dim\":8}");
            var e = Assert.Throws<CheckpointException>(() => ModelCheckpoint.Load(dir));
            Assert.Equal(path, e.FilePath);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ToJson_RoundTrips()
    {
        foreach (var c in new[] { TestModels.NeoX(), TestModels.Llama(), TestModels.Qwen3(), TestModels.NeoX(ModelHead.SequenceClassification) })
        {
            var back = ModelConfig.Parse(c.ToJson());
            Assert.Equal(c.ToJson(), back.ToJson());
            Assert.Equal(c.Head, back.Head);
            Assert.Equal(c.RopeScaling, back.RopeScaling);
        }
    }
}
