using System.Text;

namespace R2M.Tokenizers.Tests;

/// <summary>Ids identical to the JavaScript reference on the packaged Llama-3 and Qwen3 tokenizers.</summary>
public abstract class DifferentialTests(ReferenceFixture fx)
{
    [Fact]
    public void Encode_Corpus_MatchesReferenceIds()
    {
        Assert.True(fx.Texts.Count >= ReferenceFixture.CorpusSize);
        AssertMatches(fx.Tokenizer, "hand-written scanner");
    }

    [Fact]
    public void Encode_GenericRegexPath_MatchesReferenceIds()
    {
        AssertMatches(Tokenizer.FromJsonWithGenericRegex(fx.Json), "generic regex");
    }

    [Fact]
    public void EncodeBatch_Corpus_MatchesSequentialEncode()
    {
        var batch = fx.Tokenizer.EncodeBatch(fx.Texts);
        for (var i = 0; i < fx.Texts.Count; i++) Assert.Equal(fx.Expected[i], batch[i]);
    }

    [Fact]
    public void Decode_OfEncode_ReturnsInput()
    {
        var failures = new StringBuilder();
        var n = 0;
        foreach (var s in fx.Texts)
        {
            var back = fx.Tokenizer.Decode(fx.Tokenizer.Encode(s));
            if (back != fx.RoundTripOf(s) && n++ < 5) failures.AppendLine($"'{Escape(s)}' -> '{Escape(back)}'");
        }
        Assert.True(n == 0, $"{n} round-trip failures ({fx.Name}):\n{failures}");
    }

    private void AssertMatches(Tokenizer tokenizer, string path)
    {
        var failures = new StringBuilder();
        var n = 0;
        for (var i = 0; i < fx.Texts.Count; i++)
        {
            var ids = tokenizer.Encode(fx.Texts[i]);
            if (ids.AsSpan().SequenceEqual(fx.Expected[i])) continue;
            if (n++ < 5)
            {
                failures.AppendLine($"#{i} '{Escape(fx.Texts[i])}'\n  ours [{string.Join(",", ids.Take(40))}]\n" +
                                    $"  ref  [{string.Join(",", fx.Expected[i].Take(40))}]");
            }
        }
        Assert.True(n == 0, $"{n}/{fx.Texts.Count} strings differ from the reference ({fx.Name}, {path}):\n{failures}");
    }

    private static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s.Length > 120 ? s[..120] : s)
        {
            sb.Append(c < 0x20 || char.IsSurrogate(c) && !char.IsHighSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString());
        }
        return sb.ToString();
    }
}

public sealed class Llama3DifferentialTests(Llama3Fixture fx) : DifferentialTests(fx), IClassFixture<Llama3Fixture>;

public sealed class Qwen3DifferentialTests(Qwen3Fixture fx) : DifferentialTests(fx), IClassFixture<Qwen3Fixture>;
