namespace R2M.Tokenizers.Tests;

/// <summary>added_tokens flags, leftmost-longest matching and post-processor templates on a tiny hand-checkable model.</summary>
public sealed class AddedTokenTests
{
    private const int A = 0, B = 1, Space = 2, AB = 3, Unk = 4, X = 10, YY = 11, R = 12, XLong = 13, Hi = 14;

    private static Tokenizer Make(string normalizer = "null", string postProcessor = "null") => Tokenizer.FromJson($$$"""
        {
          "added_tokens": [
            {"id": 10, "content": "<x>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true},
            {"id": 11, "content": "yy", "single_word": true, "lstrip": false, "rstrip": false, "normalized": false, "special": false},
            {"id": 12, "content": "<r>", "single_word": false, "lstrip": false, "rstrip": true, "normalized": false, "special": true},
            {"id": 13, "content": "<x>>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
            {"id": 14, "content": "hi", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false}
          ],
          "normalizer": {{{normalizer}}},
          "post_processor": {{{postProcessor}}},
          "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"a": 0, "b": 1, " ": 2, "ab": 3, "<unk>": 4}, "merges": [["a", "b"]]}
        }
        """);

    [Fact]
    public void Encode_LStrip_AbsorbsWhitespaceBefore() => Assert.Equal([AB, X, AB], Make().Encode("ab  <x>ab"));

    [Fact]
    public void Encode_RStrip_AbsorbsWhitespaceAfter() => Assert.Equal([R, AB], Make().Encode("<r>  ab"));

    [Fact]
    public void Encode_SingleWord_MatchesOnlyStandaloneWord()
    {
        var tok = Make();
        Assert.Equal([AB, Space, YY, Space, AB], tok.Encode("ab yy ab"));
        Assert.Equal([AB, Unk, Unk], tok.Encode("abyy"));
    }

    [Fact]
    public void Encode_OverlappingAddedTokens_LongestWins() => Assert.Equal([XLong, A], Make().Encode("<x>>a"));

    [Fact]
    public void Encode_NormalizedAddedToken_MatchesAfterNormalizer()
    {
        var tok = Make(normalizer: """{"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}""");
        Assert.Equal([AB, Hi, AB], tok.Encode("ABHIab"));
        Assert.Equal([AB, Unk, Unk], Make().Encode("abHI"));
    }

    [Fact]
    public void Encode_TemplateInSequence_WrapsOnlyWhenRequested()
    {
        var tok = Make(postProcessor: """
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
              {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                          {"SpecialToken": {"id": "<r>", "type_id": 0}}],
               "pair": [], "special_tokens": {}}]}
            """);
        Assert.Equal([X, AB, R], tok.Encode("ab"));
        Assert.Equal([AB], tok.Encode("ab", addSpecialTokens: false));
    }

    // Without a decoder, tokens are joined with single spaces (tokenizers' default), so " " tokens show as three spaces.
    [Fact]
    public void Decode_SkipSpecial_DropsOnlySpecialTokens()
    {
        var tok = Make();
        Assert.Equal("ab   <x>   yy", tok.Decode([AB, Space, X, Space, YY]));
        Assert.Equal("ab     yy", tok.Decode([AB, Space, X, Space, YY], skipSpecialTokens: true));
    }
}
