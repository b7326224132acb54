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

    private static string Split(PreTokenizerStage stage, string text)
    {
        var output = new List<Piece>();
        stage.Apply([new Piece(text, 0, text.Length)], output, [], new PieceOrigin(text, 0, true));
        return string.Join("|", output.Select(p => p.Span.ToString()));
    }
}
