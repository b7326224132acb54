namespace R2M.Sandbox.Tests;

public sealed class GoldRewardTests
{
    private static readonly SortPrompt Prompt = new([7, 3, 9, 1]);

    [Theory]
    [InlineData(" 1 3 7 9", 1.0)]                 // exact
    [InlineData(" 1 3 7 9<eos>", 1.0)]            // explicit EOS
    [InlineData(" 1 3 7 9<eos> 5 5 5", 1.0)]      // anything after EOS is ignored
    [InlineData(" 1 3 7 9 !", 4.0 / 5)]           // one '!' costs a fifth
    [InlineData(" 1 3 7 9 ! ! !", 4.0 / 7)]       // more '!' cost more
    [InlineData(" 1 3 7 9!!", 4.0 / 6)]           // '!' glued on still counts per symbol
    [InlineData(" 1 3 7", 3.0 / 4)]               // a digit missing
    [InlineData(" 1 3 3 7 9", 4.0 / 5)]           // a digit repeated
    [InlineData(" 7 3 9 1", 2.0 / 4)]             // prompt echoed unsorted: LCS "3 9" or "1"...
    [InlineData(" 9 7 3 1", 1.0 / 4)]             // reversed
    [InlineData("", 0.0)]                         // empty response
    [InlineData("<eos>", 0.0)]                    // only EOS
    [InlineData(" 1379", 1.0)]                    // digits without spaces are the same content
    [InlineData(" 1 3 7 9 sort", 4.0 / 5)]        // a word is one extra symbol
    public void Score_Response_MatchesLcsOverLongerLength(string response, double expected)
    {
        Assert.Equal(expected, GoldReward.Score(Prompt, response), 12);
    }

    [Fact]
    public void Score_NullResponse_IsZero()
    {
        Assert.Equal(0.0, GoldReward.Score(Prompt, null));
    }

    [Fact]
    public void Score_NoEos_ScoresWholeText()
    {
        // A response cut by max_new_tokens has no EOS: every symbol counts, so rambling costs.
        double withTail = GoldReward.Score(Prompt, " 1 3 7 9 9 9 9 9");
        Assert.Equal(4.0 / 8, withTail, 12);
        Assert.False(SandboxText.ParseResponse(" 1 3 7 9 9 9 9 9").HasEos);
    }

    [Fact]
    public void Score_Duplicates_NeedBothCopies()
    {
        var prompt = new SortPrompt([5, 2, 5]);
        Assert.Equal(1.0, GoldReward.Score(prompt, " 2 5 5"));
        Assert.Equal(2.0 / 3, GoldReward.Score(prompt, " 2 5"), 12);
    }

    [Fact]
    public void Score_EmptyGoldAnswer_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => GoldReward.Score([], ["1"]));
        Assert.Contains("no digits", e.Message);
    }

    [Theory]
    [InlineData("ABCBDAB", "BDCABA", 4)]
    [InlineData("", "abc", 0)]
    [InlineData("abc", "abc", 3)]
    [InlineData("abc", "def", 0)]
    public void LongestCommonSubsequence_Strings_KnownLengths(string a, string b, int expected)
    {
        Assert.Equal(expected, GoldReward.LongestCommonSubsequence(a.ToArray(), b.ToArray()));
    }

    [Fact]
    public void Score_AlwaysInUnitInterval_OverSftData()
    {
        foreach (SftExample e in SandboxData.Sft(500, seed: 3))
        {
            Assert.InRange(e.Gold, 0.0, 1.0);
            Assert.Equal(e.Gold, GoldReward.Score(e.Prompt, e.Response));
        }
    }
}
