using System.Text;
using R2M.Tokenizers.Internal.Unicode;
using Xunit.Abstractions;

namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// Ids identical to HuggingFace's Rust tokenizers (Tokenizers.DotNet) on real tokenizer.json files,
/// decoding identical to its decode, and Decode(Encode(s)) == s.
/// </summary>
public abstract class HuggingFaceDifferentialTests(HuggingFaceFixture fx, ITestOutputHelper output)
{
    [Fact]
    public void Encode_Corpus_MatchesHuggingFaceIds()
    {
        Assert.True(fx.Texts.Count >= ReferenceFixture.CorpusSize);
        AssertMatches(fx.Tokenizer, "hand-written scanner");
    }

    [Fact]
    public void Encode_GenericRegexPath_MatchesHuggingFaceIds()
    {
        AssertMatches(Tokenizer.FromJsonWithGenericRegex(File.ReadAllText(fx.Path)), "generic regex");
    }

    [Fact]
    public void EncodeBatch_Corpus_MatchesHuggingFaceIds()
    {
        var batch = fx.Tokenizer.EncodeBatch(fx.Texts);
        for (var i = 0; i < fx.Texts.Count; i++) Assert.Equal(fx.Expected[i], batch[i]);
    }

    [Fact]
    public void Decode_SkippingSpecialTokens_MatchesHuggingFaceDecode()
    {
        var failures = new StringBuilder();
        var n = 0;
        for (var i = 0; i < fx.Texts.Count; i++)
        {
            var ours = fx.Tokenizer.Decode(fx.Expected[i], skipSpecialTokens: true);
            var hf = fx.Reference.Decode(fx.Expected[i]);
            if (ours != hf && n++ < 5) failures.AppendLine($"#{i} '{TestText.Escape(fx.Texts[i])}': ours '{TestText.Escape(ours)}' hf '{TestText.Escape(hf)}'");
        }
        Assert.True(n == 0, $"{n} decodes differ from HuggingFace ({fx.Name}):\n{failures}");
    }

    [Fact]
    public void Decode_OfEncode_ReturnsInput()
    {
        var failures = new StringBuilder();
        int n = 0, checkedCount = 0;
        foreach (var s in fx.Texts.Where(fx.RoundTrips))
        {
            checkedCount++;
            var back = fx.Tokenizer.Decode(fx.Tokenizer.Encode(s, addSpecialTokens: false));
            var expected = TestText.WithoutLoneSurrogates(s);
            if (fx.Name == "qwen3") expected = Nfc.Normalize(expected);
            if (back != expected && n++ < 5) failures.AppendLine($"'{TestText.Escape(s)}' -> '{TestText.Escape(back)}'");
        }
        Assert.True(n == 0, $"{n} round-trip failures ({fx.Name}):\n{failures}");
        Assert.True(checkedCount > fx.Texts.Count * 9 / 10, $"only {checkedCount} strings checked");
    }

    /// <summary>
    /// Each vocabulary token's text (HuggingFace's decode of that one id) encodes like HuggingFace
    /// encodes it; the tokens HuggingFace maps back to their own id are counted and must be many.
    /// </summary>
    [Fact]
    public void Encode_EveryVocabularyTokenText_MatchesHuggingFace()
    {
        var failures = new StringBuilder();
        int n = 0, selfEncoding = 0;
        for (var id = 0; id < fx.Tokenizer.VocabSize; id++)
        {
            if (fx.Tokenizer.IdToToken(id) is null) continue;
            var text = fx.Reference.Decode([id]);
            var hf = fx.Reference.Encode(text);
            var ours = fx.Tokenizer.Encode(text);
            if (hf.AsSpan().SequenceEqual(ours))
            {
                if (hf.Contains(id)) selfEncoding++;
                continue;
            }
            if (n++ < 5) failures.AppendLine($"id {id} '{TestText.Escape(text)}': ours [{string.Join(",", ours)}] hf [{string.Join(",", hf)}]");
        }
        output.WriteLine($"{fx.Name}: {selfEncoding} of {fx.Tokenizer.VocabSize} token texts encode to their own id (as in HuggingFace)");
        Assert.True(n == 0, $"{n} vocabulary texts encode differently ({fx.Name}):\n{failures}");
        Assert.True(selfEncoding > fx.Tokenizer.VocabSize / 2, $"only {selfEncoding} tokens map back to their own id");
    }

    private void AssertMatches(Tokenizer tokenizer, string path)
    {
        var failures = new StringBuilder();
        var n = 0;
        for (var i = 0; i < fx.Texts.Count; i++)
        {
            var ids = tokenizer.Encode(fx.Texts[i]);
            if (ids.AsSpan().SequenceEqual(fx.Expected[i])) continue;
            if (n++ < 8)
            {
                failures.AppendLine($"#{i} '{TestText.Escape(fx.Texts[i])}'\n  ours [{string.Join(",", ids.Take(40))}]\n" +
                                    $"  hf   [{string.Join(",", fx.Expected[i].Take(40))}]");
            }
        }
        Assert.True(n == 0, $"{n}/{fx.Texts.Count} strings differ from HuggingFace ({fx.Name}, {path}):\n{failures}");
    }

}

public sealed class HfLlama3Tests(HfLlama3Fixture fx, ITestOutputHelper output) : HuggingFaceDifferentialTests(fx, output), IClassFixture<HfLlama3Fixture>;

public sealed class HfQwen3Tests(HfQwen3Fixture fx, ITestOutputHelper output) : HuggingFaceDifferentialTests(fx, output), IClassFixture<HfQwen3Fixture>;

public sealed class HfDeepSeekV3Tests(HfDeepSeekV3Fixture fx, ITestOutputHelper output) : HuggingFaceDifferentialTests(fx, output), IClassFixture<HfDeepSeekV3Fixture>;

public sealed class HfGemma3Tests(HfGemma3Fixture fx, ITestOutputHelper output) : HuggingFaceDifferentialTests(fx, output), IClassFixture<HfGemma3Fixture>;

public sealed class HfLlama2Tests(HfLlama2Fixture fx, ITestOutputHelper output) : HuggingFaceDifferentialTests(fx, output), IClassFixture<HfLlama2Fixture>;
