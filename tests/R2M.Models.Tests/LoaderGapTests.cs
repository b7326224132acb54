using System.Text;
using Microsoft.Extensions.Logging;
using R2M.Models.Safetensors;

namespace R2M.Models.Tests;

/// <summary>
/// One regression test per loader gap found on real-world inputs: every failure is a
/// CheckpointException / SafetensorsException naming the file (and field or tensor), and a tied
/// model whose file also holds a different lm_head.weight loads with a warning.
/// </summary>
public sealed class LoaderGapTests : IDisposable
{
    private const string Base = "\"model_type\":\"llama\",\"vocab_size\":10,\"intermediate_size\":8,\"num_hidden_layers\":1";
    private readonly string _dir = TestSupport.NewTempDir("gaps");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Load_NumAttentionHeadsZero_CheckpointExceptionNamingFieldAndFile()
    {
        var path = WriteConfig($"{{{Base},\"hidden_size\":8,\"num_attention_heads\":0}}");
        var e = Assert.Throws<CheckpointException>(() => ModelConfig.Load(path));
        Assert.Contains("num_attention_heads", e.Message);
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void Parse_RopeThetaString_NamesFieldInsteadOfDefaulting()
    {
        var e = Assert.Throws<CheckpointException>(() =>
            ModelConfig.Parse($"{{{Base},\"hidden_size\":8,\"num_attention_heads\":2,\"rope_theta\":\"abc\"}}", "cfg.json"));
        Assert.Contains("'rope_theta'", e.Message);
        Assert.Contains("number", e.Message);
        Assert.StartsWith("cfg.json", e.Message);
    }

    [Fact]
    public void Parse_HiddenSizeString_ReportsWrongTypeNotMissing()
    {
        var e = Assert.Throws<CheckpointException>(() =>
            ModelConfig.Parse($"{{{Base},\"hidden_size\":\"64\",\"num_attention_heads\":2}}", "cfg.json"));
        Assert.Contains("'hidden_size'", e.Message);
        Assert.Contains("string", e.Message);
        Assert.DoesNotContain("missing", e.Message);
    }

    [Fact]
    public void Open_InvalidUtf8InHeader_SafetensorsExceptionNamingFile()
    {
        var json = Encoding.UTF8.GetBytes("{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        var at = Array.IndexOf(json, (byte)'p');
        json[at] = 0xC3;        // a lead byte followed by an ASCII byte: invalid UTF-8 inside a string
        var path = WriteRaw("bad-utf8.safetensors", json, 4);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Open_IndexWithInvalidUtf8_CheckpointExceptionNamingIndex()
    {
        var dir = Path.Combine(_dir, "sharded");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, CheckpointReader.IndexFileName);
        var bytes = Encoding.UTF8.GetBytes("{\"weight_map\":{\"w\":\"model-00001.safetensors\"}}");
        bytes[16] = 0xFF;   // the tensor name "w" becomes an invalid UTF-8 byte
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<CheckpointException>(() => CheckpointReader.Open(dir));
        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void Open_ShapeWhoseElementCountWraps_Rejected()
    {
        // 2^32 * 2^32 wraps to 0 in 64-bit arithmetic, which would match the 0 bytes of data.
        var json = Encoding.UTF8.GetBytes("{\"huge\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}");
        var path = WriteRaw("wrap.safetensors", json, 0);
        var e = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.Equal("huge", e.TensorName);
        Assert.Contains("too large", e.Message);
    }

    [Fact]
    public void Load_TiedModelWithDifferentLmHead_LoadsEmbeddingAndWarns()
    {
        var model = TestModels.Create(TestModels.Llama());
        Assert.True(model.Config.TieWordEmbeddings);
        var dir = Path.Combine(_dir, "tied");
        ModelCheckpoint.Save(model, dir);
        var embed = model.Parameter("model.embed_tokens.weight").ToArray();
        var other = embed.Select(x => x + 1f).ToArray();
        var entries = model.Layout.Entries
            .Select(e => new SafetensorsEntry(e.Name, e.Shape.Select(d => (long)d).ToArray(), model.Parameters.AsMemory((int)e.Offset, (int)e.Size)))
            .Append(new SafetensorsEntry("lm_head.weight", [model.Config.VocabSize, model.Config.HiddenSize], other))
            .ToList();
        SafetensorsWriter.Write(Path.Combine(dir, CheckpointReader.SingleFileName), entries);
        var logger = new CapturingLogger();
        var loaded = ModelCheckpoint.Load(dir, logger);
        Assert.Equal(embed, loaded.Parameter("model.embed_tokens.weight").ToArray());
        var warning = Assert.Single(logger.Entries, x => x.Level == LogLevel.Warning);
        Assert.Contains("lm_head.weight", warning.Message);
        Assert.Contains("tie_word_embeddings", warning.Message);
        // The same file with an identical lm_head.weight loads silently.
        entries[^1] = new SafetensorsEntry("lm_head.weight", [model.Config.VocabSize, model.Config.HiddenSize], embed);
        SafetensorsWriter.Write(Path.Combine(dir, CheckpointReader.SingleFileName), entries);
        var quiet = new CapturingLogger();
        ModelCheckpoint.Load(dir, quiet);
        Assert.DoesNotContain(quiet.Entries, x => x.Level >= LogLevel.Warning);
    }

    private string WriteConfig(string json)
    {
        var path = Path.Combine(_dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private string WriteRaw(string name, byte[] header, int dataBytes)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BitConverter.GetBytes((long)header.Length).CopyTo(bytes, 0);
        header.CopyTo(bytes, 8);
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
