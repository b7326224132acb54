using R2M.Tokenizers.Internal.Bpe;
using R2M.Tokenizers.Internal.Decoding;
using R2M.Tokenizers.Internal.PreTokenization;
using R2M.Tokenizers.Internal.Unicode;

namespace R2M.Tokenizers.Tests;

/// <summary>Pieces of the pipeline checked against documented behaviour.</summary>
public sealed class ComponentTests
{
    // Expected splits from the SplitDelimiterBehavior documentation of huggingface/tokenizers.
    [Theory]
    [InlineData("Removed", "the|final|countdown")]
    [InlineData("Isolated", "the|-|final|-|-|countdown")]
    [InlineData("MergedWithPrevious", "the-|final-|-|countdown")]
    [InlineData("MergedWithNext", "the|-final|-|-countdown")]
    [InlineData("Contiguous", "the|-|final|--|countdown")]
    public void SplitStage_Behavior_MatchesDocumentedExample(string behavior, string expected)
    {
        var stage = new SplitStage(new LiteralMatchFinder("-"), Enum.Parse<SplitBehavior>(behavior), false);
        Assert.Equal(expected, Split(stage, "the-final--countdown"));
    }

    [Fact]
    public void SplitStage_InvertRemoved_KeepsMatchesOnly()
    {
        var stage = new SplitStage(new RegexMatchFinder(@"\d+"), SplitBehavior.Removed, invert: true);
        Assert.Equal("12|3", Split(stage, "ab12cd3"));
    }

    [Fact]
    public void SplitStage_InvertIsolated_KeepsEverySegment()
    {
        var stage = new SplitStage(new RegexMatchFinder(@"\d+"), SplitBehavior.Isolated, invert: true);
        Assert.Equal("ab|12|cd|3", Split(stage, "ab12cd3"));
    }

    [Theory]
    [InlineData("Hello world", "Hello| world")]
    [InlineData("I'm here", "I|'m| here")]
    [InlineData("a  b", "a| | b")]
    [InlineData("x \n\n y", "x| \n\n| y")]
    [InlineData("1234567", "123|456|7")]
    [InlineData("𝐀𝐁 𝟎𝟏", "𝐀𝐁| |𝟎𝟏")]
    [InlineData("(hi)...\r\n", "(hi|)...\r\n")]
    [InlineData("end   ", "end|   ")]
    public void PatternScanner_Llama3_SplitsLikeRegex(string text, string expected)
    {
        var stage = new SplitStage(PatternScanner.ForPattern(PatternScanner.Llama3Pattern)!, SplitBehavior.Isolated, false);
        Assert.Equal(expected, Split(stage, text));
        var generic = new SplitStage(new RegexMatchFinder(PatternScanner.Llama3Pattern), SplitBehavior.Isolated, false);
        Assert.Equal(expected, Split(generic, text));
    }

    [Theory]
    [InlineData("Hello world's 123", "Hello| world|'s| 123")]
    [InlineData("I'M", "I|'|M")]
    [InlineData("a  b", "a| | b")]
    [InlineData("x!! y", "x|!!| y")]
    public void PatternScanner_Gpt2_SplitsLikeRegex(string text, string expected)
    {
        var stage = new SplitStage(PatternScanner.Gpt2, SplitBehavior.Isolated, false);
        Assert.Equal(expected, Split(stage, text));
        var generic = new SplitStage(new RegexMatchFinder(PatternScanner.Gpt2Pattern), SplitBehavior.Isolated, false);
        Assert.Equal(expected, Split(generic, text));
    }

    [Theory]
    [InlineData("e\u0301", "\u00E9")]
    [InlineData("A\u030A", "\u00C5")]
    [InlineData("\u212B", "\u00C5")]
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]
    [InlineData("\u0958", "\u0915\u093C")]
    [InlineData("a\u0301\u0316", "\u00E1\u0316")]
    [InlineData("plain ascii", "plain ascii")]
    [InlineData("\uD835\uDC00\u0301", "\uD835\uDC00\u0301")]
    public void Nfc_Normalize_ComposesCanonically(string input, string expected)
    {
        Assert.Equal(expected, Nfc.Normalize(input));
    }

    // decoders/byte_fallback.rs: an invalid run gives one U+FFFD per byte (not per maximal subsequence).
    [Fact]
    public void ByteFallbackStep_InvalidRun_OneReplacementPerByte()
    {
        Assert.Equal(["\uFFFD", "\uFFFD", "a"], new ByteFallbackStep().Apply(["<0xE2>", "<0x82>", "a"]));
        Assert.Equal(["€", "<0xZZ>"], new ByteFallbackStep().Apply(["<0xE2>", "<0x82>", "<0xAC>", "<0xZZ>"]));
    }

    // decoders/byte_level.rs decides per token: all chars byte images, or the token's own UTF-8.
    [Fact]
    public void ByteLevelStep_TokenWithNonImageChar_KeepsItsUtf8()
    {
        Assert.Equal(["\uFFFD"], new ByteLevelStep().Apply(["é"]));   // é is the image of byte 0xE9
        Assert.Equal(["é€"], new ByteLevelStep().Apply(["é€"]));
        Assert.Equal(["a b"], new ByteLevelStep().Apply(["a", "Ġb"]));
    }

    [Fact]
    public void MetaspaceStep_Prepending_DropsEveryReplacementOfFirstTokenOnly()
    {
        Assert.Equal(["ab", " c"], new MetaspaceStep('\u2581', prepends: true).Apply(["\u2581a\u2581b", "\u2581c"]));
        Assert.Equal([" a b", " c"], new MetaspaceStep('\u2581', prepends: false).Apply(["\u2581a\u2581b", "\u2581c"]));
    }

    [Fact]
    public void StripStep_StartAndStop_CutsAtMostThatMany()
    {
        Assert.Equal(["  x "], new StripStep(" ", 1, 1).Apply(["   x  "]));
    }

    [Theory]
    [InlineData("\u2581ab\u2581\u2581cd\u2581e", 3)]
    [InlineData("\u2581\u2581\u2581ab", 5)]
    [InlineData("ab", 2)]
    [InlineData("a\u2581", 1)]
    [InlineData("\u2581b>\u2581</\u2581c", 6)]     // a token holds ">\u2581": no cut after '>'
    [InlineData("\u2581x\u00E9\u2581c", 5)]         // U+00E9 is no symbol: its byte tokens end with the unsafe ">"
    public void WordChunker_NextChunk_CutsOnlyWhereNoTokenSpans(string word, int expected)
    {
        Dictionary<string, int> vocab = new() { ["\u2581"] = 0, ["\u2581\u2581"] = 1, ["a"] = 2, ["b"] = 3, [">\u2581</"] = 4, ["x"] = 5, [">"] = 6, ["<"] = 7, ["/"] = 8 };
        var chunker = WordChunker.ForVocab(vocab, new SymbolTable(vocab), "<unk>");
        Assert.Equal(expected, chunker!.NextChunk(word));
    }

    [Theory]
    [InlineData("always", true, "a b", "\u2581a|\u2581b")]
    [InlineData("never", true, "a b", "a|\u2581b")]
    [InlineData("first", false, " a", "\u2581a")]
    public void MetaspaceStage_Scheme_PrependsAndSplits(string scheme, bool split, string text, string expected)
    {
        var s = Enum.Parse<MetaspaceStage.Scheme>(scheme, ignoreCase: true);
        Assert.Equal(expected, Split(new MetaspaceStage('\u2581', s, split), text));
    }

    private static string Split(PreTokenizerStage stage, string text)
    {
        var output = new List<Piece>();
        stage.Apply([new Piece(text, 0, text.Length)], output, [], new PieceOrigin(text, 0, true));
        return string.Join("|", output.Select(p => p.Span.ToString()));
    }
}
