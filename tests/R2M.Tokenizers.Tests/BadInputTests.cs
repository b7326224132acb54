namespace R2M.Tokenizers.Tests;

/// <summary>Malformed or unsupported tokenizer.json gets a clear error naming the problem; bad text never hangs.</summary>
public sealed class BadInputTests
{
    private static string Minimal(string model = "", string extra = "") =>
        "{\"added_tokens\": [], " + extra +
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]" + model + "}}";

    [Fact]
    public void FromJson_Minimal_Loads()
    {
        var tok = Tokenizer.FromJson(Minimal());
        Assert.Equal([2], tok.Encode("ab"));
    }

    [Theory]
    [InlineData("{not json", "invalid JSON")]
    [InlineData("", "invalid JSON")]
    [InlineData("[1, 2]", "root is not a JSON object")]
    [InlineData("{\"added_tokens\": []}", "model is missing")]
    public void FromJson_Malformed_ThrowsNamingProblem(string json, string expected)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void FromJson_UnknownModelType_NamesType()
    {
        var json = Minimal().Replace("\"BPE\"", "\"WordPiece\"");
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains("model.type 'WordPiece' is not supported", e.Message);
    }

    [Fact]
    public void FromJson_MergeNamingUnknownToken_NamesMergeAndToken()
    {
        var json = Minimal().Replace("[\"a b\"]", "[\"a b\", \"a zz\"]");
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains("model.merges[1]", e.Message);
        Assert.Contains("'zz'", e.Message);
    }

    [Fact]
    public void FromJson_MergeResultNotInVocab_NamesMergedToken()
    {
        var json = Minimal().Replace("\"ab\": 2", "\"ba\": 2");
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains("'ab'", e.Message);
    }

    [Fact]
    public void FromJson_MalformedMergeString_NamesIndex()
    {
        var json = Minimal().Replace("[\"a b\"]", "[\"a b c\"]");
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains("model.merges[0]", e.Message);
    }

    [Theory]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Whitespace\"},", "pre_tokenizer.type 'Whitespace'")]
    [InlineData("\"normalizer\": {\"type\": \"NFKD\"},", "normalizer.type 'NFKD'")]
    [InlineData("\"decoder\": {\"type\": \"WordPiece\"},", "decoder.type 'WordPiece' is not supported")]
    [InlineData("\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, {\"type\": \"ByteFallback\"}, {\"type\": \"CTC\"}]},",
        "decoder.decoders[2].type 'CTC' is not supported")]
    [InlineData("\"decoder\": {\"type\": \"Strip\", \"content\": \"ab\", \"start\": 1, \"stop\": 0},", "decoder.content must be one character")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", \"add_prefix_space\": false},",
        "pre_tokenizer.add_prefix_space false does not match prepend_scheme 'always'")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"},", "pre_tokenizer.prepend_scheme 'sometimes'")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}]},",
        "pre_tokenizer.pretokenizers[0].type 'Digits' is not supported")]
    [InlineData("\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Strip\"}, {\"type\": \"Precompiled\"}]},",
        "normalizer.normalizers[1].type 'Precompiled' is not supported")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"},", "invalid regex")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"},", "behavior 'Sideways'")]
    public void FromJson_UnsupportedComponent_NamesIt(string extra, string expected)
    {
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(Minimal(extra: extra)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void FromJson_BadVocabId_NamesToken()
    {
        var json = Minimal().Replace("\"b\": 1", "\"b\": -4");
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromJson(json));
        Assert.Contains("model.vocab['b']", e.Message);
    }

    [Fact]
    public void FromFile_TruncatedFile_ThrowsNamingFile()
    {
        var json = File.ReadAllText(TestPaths.PackagedTokenizer("qwen3"));
        var path = Path.Combine(Path.GetTempPath(), $"r2m-truncated-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json[..(json.Length / 2)]);
        try
        {
            var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("invalid JSON", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FromFile_Missing_ThrowsNamingFile()
    {
        var e = Assert.Throws<TokenizerFormatException>(() => Tokenizer.FromFile("/nonexistent/tokenizer.json"));
        Assert.Contains("/nonexistent/tokenizer.json", e.Message);
    }

    [Fact]
    public void Encode_LoneSurrogates_EncodedAsReplacementChar()
    {
        var tok = TokenizerBuilder.TrainByteLevel(["hello world"], 5).Build();
        Assert.Equal(tok.Encode("x\uFFFDy"), tok.Encode("x\uD800y"));
        Assert.Equal(tok.Encode("\uFFFD"), tok.Encode("\uDC00"));
        Assert.Equal("a\uFFFDb", tok.Decode(tok.Encode("a\uDBFFb")));
    }

    [Fact]
    public void Decode_UnknownId_ThrowsNamingId()
    {
        var tok = Tokenizer.FromJson(Minimal());
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([0, 99]));
        Assert.Contains("99", e.Message);
    }
}
