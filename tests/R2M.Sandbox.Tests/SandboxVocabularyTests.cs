using System.Text.Json;

namespace R2M.Sandbox.Tests;

public sealed class SandboxVocabularyTests
{
    private static int Id(string token)
    {
        int id = SandboxVocabulary.IdOf(token);
        Assert.True(id >= 0, $"token '{token}' missing from the vocabulary");
        return id;
    }

    [Fact]
    public void Tokens_SpecialIds_AreFixed()
    {
        Assert.Equal(0, Id("<pad>"));
        Assert.Equal(1, Id("<bos>"));
        Assert.Equal(2, Id("<eos>"));
        Assert.Equal(3, Id("<unk>"));
        Assert.Equal(SandboxVocabulary.Tokens.Count, SandboxVocabulary.Tokens.Distinct().Count());
        Assert.Equal(36, SandboxVocabulary.VocabSize);
    }

    [Fact]
    public void Encode_PromptAndResponse_OneTokenPerSymbol()
    {
        int[] ids = SandboxVocabulary.Encode("sort 7 3 9 1 = 1 3 7 9 ! !<eos>");
        int[] expected =
        [
            1, Id("sort"), Id("\u01207"), Id("\u01203"), Id("\u01209"), Id("\u01201"), Id("\u0120="),
            Id("\u01201"), Id("\u01203"), Id("\u01207"), Id("\u01209"), Id("\u0120!"), Id("\u0120!"), 2,
        ];
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void Encode_GluedSymbols_FallBackToBaseTokens()
    {
        // " 13" is one GPT-2 piece: 'Ġ','1','3' -> merge Ġ1 -> [Ġ1, 3]; "!!" -> [!, !].
        Assert.Equal([Id("\u01201"), Id("3"), Id("\u0120!"), Id("!")], SandboxVocabulary.Encode(" 13 !!", addBos: false));
        // "sorts": s o -> so, r t -> rt, so rt -> sort, leaving s.
        Assert.Equal([Id("sort"), Id("s")], SandboxVocabulary.Encode("sorts", addBos: false));
    }

    [Fact]
    public void Encode_UnknownCharacters_BecomeUnk()
    {
        // 'x' and the two UTF-8 bytes of 'é' are outside the vocabulary: one <unk> per byte.
        Assert.Equal([3, 3, 3], SandboxVocabulary.Encode("xé", addBos: false));
    }

    [Fact]
    public void Decode_Encoded_RoundTripsTextWithoutSpecials()
    {
        const string Text = "sort 0 5 5 = 0 5 5 !";
        Assert.Equal(Text, SandboxVocabulary.Decode(SandboxVocabulary.Encode(Text)));
        Assert.Equal("<bos> 1<eos>", SandboxVocabulary.Decode([1, Id("\u01201"), 2], keepSpecial: true));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => SandboxVocabulary.Decode([36]));
        Assert.Contains("token id 36", e.Message);
    }

    [Fact]
    public void TokenizerJson_Structure_IsValidByteLevelBpe()
    {
        using JsonDocument doc = JsonDocument.Parse(SandboxVocabulary.TokenizerJson());
        JsonElement root = doc.RootElement;
        JsonElement model = root.GetProperty("model");

        Assert.Equal("BPE", model.GetProperty("type").GetString());
        Assert.Equal("ByteLevel", root.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        Assert.Equal("TemplateProcessing", root.GetProperty("post_processor").GetProperty("type").GetString());

        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(Enumerable.Range(0, 36), vocab.Values.Order());
        // Every merge joins two existing tokens into an existing token (docs/specs.md section 4).
        foreach (JsonElement merge in model.GetProperty("merges").EnumerateArray())
        {
            string[] parts = merge.GetString()!.Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.True(vocab.ContainsKey(parts[0]) && vocab.ContainsKey(parts[1]) && vocab.ContainsKey(parts[0] + parts[1]), merge.GetString());
        }
        var added = root.GetProperty("added_tokens").EnumerateArray()
            .ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        Assert.Equal(new Dictionary<string, int> { ["<pad>"] = 0, ["<bos>"] = 1, ["<eos>"] = 2, ["<unk>"] = 3 }, added);
        Assert.All(added, a => Assert.Equal(a.Value, vocab[a.Key]));
    }

    [Fact]
    public void WriteTokenizerFiles_Directory_WritesBothFiles()
    {
        string dir = Path.Combine(Path.GetTempPath(), "r2m-sandbox-tok-" + Guid.NewGuid().ToString("N"));
        try
        {
            SandboxVocabulary.WriteTokenizerFiles(dir);
            Assert.Equal(SandboxVocabulary.TokenizerJson(), File.ReadAllText(Path.Combine(dir, "tokenizer.json")));
            using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")));
            Assert.Equal("<eos>", config.RootElement.GetProperty("eos_token").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

public sealed class SandboxExampleEncodingTests
{
    [Fact]
    public void EncodeExample_SftData_EqualsEncodingTheConcatenation()
    {
        foreach (SftExample e in SandboxData.Sft(500, seed: 9))
        {
            (int[] ids, int promptLength) = SandboxVocabulary.EncodeExample(e.Prompt.Text, e.Response);
            Assert.Equal(SandboxVocabulary.Encode(e.Prompt.Text + e.Response + SandboxVocabulary.EosToken), ids);
            Assert.Equal(e.Prompt.Digits.Count + 3, promptLength); // <bos> sort d... =
            Assert.Equal(SandboxText.ParseResponse(e.Response).Length + 1, ids.Length - promptLength);
            Assert.DoesNotContain(SandboxVocabulary.UnkId, ids);
        }
    }
}
