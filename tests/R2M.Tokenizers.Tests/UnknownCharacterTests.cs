namespace R2M.Tokenizers.Tests;

/// <summary><see cref="Tokenizer.Encode(string, bool, out int)"/>: characters no vocabulary token covers.</summary>
public sealed class UnknownCharacterTests
{
    private static Tokenizer Make(string unk, bool fuseUnk = false, bool byteFallback = false, string extraVocab = "") => Tokenizer.FromJson($$"""
        {
          "added_tokens": [{"id": 9, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
          "model": {"type": "BPE", "unk_token": {{unk}}, "fuse_unk": {{(fuseUnk ? "true" : "false")}}, "byte_fallback": {{(byteFallback ? "true" : "false")}},
                    "vocab": {"a": 0, "b": 1, "ab": 2, "<unk>": 3, " ": 5{{extraVocab}}}, "merges": [["a", "b"]]}
        }
        """);

    [Theory]
    [InlineData("ab ab", 0)]
    [InlineData("<s>ab", 0)]
    [InlineData("axb", 1)]
    [InlineData("axyb zz", 4)]
    [InlineData("", 0)]
    public void Encode_UnkToken_CountsEveryUncoveredCharacter(string text, int expected)
    {
        Make("\"<unk>\"").Encode(text, addSpecialTokens: false, out int unknown);
        Assert.Equal(expected, unknown);
    }

    [Fact]
    public void Encode_FusedUnk_CountsCharactersNotTokens()
    {
        int[] ids = Make("\"<unk>\"", fuseUnk: true).Encode("axyzb", addSpecialTokens: false, out int unknown);
        Assert.Equal([0, 3, 1], ids);
        Assert.Equal(3, unknown);
    }

    [Fact]
    public void Encode_NoUnkToken_DroppedCharactersCount()
    {
        // merge_word drops the char, so a and b become neighbours and merge: "ab".
        int[] ids = Make("null").Encode("axb", addSpecialTokens: false, out int unknown);
        Assert.Equal([2], ids);
        Assert.Equal(1, unknown);
    }

    [Fact]
    public void Encode_ByteFallback_CoveredCharactersDoNotCount()
    {
        // 'x' is 0x78: its byte token exists, so x is represented; 'y' has no byte token.
        var tok = Make("\"<unk>\"", byteFallback: true, extraVocab: ", \"<0x78>\": 4");
        tok.Encode("axb", addSpecialTokens: false, out int covered);
        Assert.Equal(0, covered);
        tok.Encode("ayb", addSpecialTokens: false, out int uncovered);
        Assert.Equal(1, uncovered);
    }

    [Fact]
    public void Encode_RepeatedWord_SameCountEveryTime()
    {
        // Words are cached; a word with an unknown character is not, so the count never goes stale.
        var tok = Make("\"<unk>\"");
        tok.Encode("axb axb", addSpecialTokens: false, out int first);
        tok.Encode("axb", addSpecialTokens: false, out int second);
        tok.Encode("ab", addSpecialTokens: false, out int clean);
        Assert.Equal((2, 1, 0), (first, second, clean));
    }
}
