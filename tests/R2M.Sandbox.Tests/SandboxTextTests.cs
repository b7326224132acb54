namespace R2M.Sandbox.Tests;

public sealed class SandboxTextTests
{
    [Fact]
    public void SortPrompt_Digits_FormatsPromptAndTarget()
    {
        var prompt = new SortPrompt([7, 3, 9, 1]);
        Assert.Equal("sort 7 3 9 1 =", prompt.Text);
        Assert.Equal(" 1 3 7 9", prompt.Target);
        Assert.Equal([1, 3, 7, 9], prompt.Sorted);
    }

    [Fact]
    public void ParsePrompt_FormattedPrompt_RoundTrips()
    {
        var prompt = new SortPrompt([0, 0, 5]);
        Assert.Equal(prompt, SandboxText.ParsePrompt(prompt.Text));
        Assert.Equal(prompt, SandboxText.ParsePrompt("  sort 0   0 5 =  "));
    }

    [Theory]
    [InlineData("")]
    [InlineData("sort =")]
    [InlineData("sort 1 2")]
    [InlineData("sort 12 3 =")]
    [InlineData("sorted 1 2 =")]
    [InlineData("sort a 2 =")]
    public void TryParsePrompt_Malformed_ReturnsFalse(string text)
    {
        Assert.False(SandboxText.TryParsePrompt(text, out SortPrompt? prompt));
        Assert.Null(prompt);
    }

    [Fact]
    public void ParsePrompt_Malformed_ThrowsQuotingTheText()
    {
        var e = Assert.Throws<FormatException>(() => SandboxText.ParsePrompt("sort x ="));
        Assert.Contains("\"sort x =\"", e.Message);
    }

    [Fact]
    public void SortPrompt_NonDigit_ThrowsNamingTheIndex()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SortPrompt([1, 12]));
        Assert.Contains("digits[1] = 12", e.Message);
        Assert.Throws<ArgumentException>(() => new SortPrompt([]));
    }

    [Fact]
    public void ParseResponse_MixedSymbols_SplitsAndStopsAtEos()
    {
        ResponseSymbols parsed = SandboxText.ParseResponse(" 1 3!! sort=<eos> 4");
        Assert.Equal(["1", "3", "!", "!", "sort", "="], parsed.Symbols);
        Assert.True(parsed.HasEos);
        Assert.Equal(2, parsed.BangCount);
        Assert.Equal(6, parsed.Length);
    }

    [Fact]
    public void FormatResponse_WithBangs_AppendsSpacedBangs()
    {
        Assert.Equal(" 1 2 ! !", SandboxText.FormatResponse([1, 2], bangs: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => SandboxText.FormatResponse([1], bangs: -1));
    }
}
