using System.Text;

namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// Llama-2-style tokenizer.json files written by <see cref="SentencePieceJson"/> (byte fallback,
/// Prepend/Replace normalizers or a Metaspace pre-tokenizer, their decoders, added tokens with
/// lstrip / rstrip / single_word / normalized) encode and decode exactly as HuggingFace does.
/// </summary>
public sealed class SentencePieceFileTests
{
    private static readonly string[] s_training = TrainingCorpus();

    private static readonly string[] s_addedTokenTexts =
    [
        "<|user|>  hi", "a  <|user|>  b", "a<|user|>b", "yy", "ayy", "yy b", "x yy,", "yyy yy", "hello world", "say hello world!",
        "hello  world", "Hello world", " [MASK]x", "a\t [MASK]", "<s>hi</s>", "<unk>", "", " ", "  leading", "trailing  ",
        "a  b   c", "\u2581", "x\u2581y", "\u2581\u2581 z",
    ];

    public static TheoryData<string, bool> Styles => new()
    {
        { nameof(SentencePieceJson.Style.LegacyNormalizers), false },
        { nameof(SentencePieceJson.Style.LegacyNormalizers), true },
        { nameof(SentencePieceJson.Style.MetaspaceFirst), false },
        { nameof(SentencePieceJson.Style.MetaspaceUnk), false },
    };

    [Theory]
    [MemberData(nameof(Styles))]
    public void EncodeDecode_GeneratedFile_MatchesHuggingFace(string style, bool crossingMerge)
    {
        var json = SentencePieceJson.Build(s_training, 400, Enum.Parse<SentencePieceJson.Style>(style), crossingMerge);
        var path = Path.Combine(Path.GetTempPath(), $"r2m-sp-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            using var hf = new HuggingFaceReference(path);
            var ours = Tokenizer.FromFile(path);
            var texts = DifferentialCorpus.Build(3000, seed: 11).Concat(DifferentialCorpus.AroundWhitespace())
                .Concat(s_addedTokenTexts).Concat(s_training.Take(200)).ToList();
            var failures = new StringBuilder();
            var n = 0;
            foreach (var s in texts)
            {
                var expected = hf.Encode(s);
                var ids = ours.Encode(s);
                var decoded = ours.Decode(expected, skipSpecialTokens: true);
                var hfDecoded = hf.Decode(expected);
                if (ids.AsSpan().SequenceEqual(expected) && decoded == hfDecoded) continue;
                if (n++ < 5)
                {
                    failures.AppendLine($"'{TestText.Escape(s)}': ours [{string.Join(",", ids.Take(30))}] " +
                                        $"hf [{string.Join(",", expected.Take(30))}] decode '{decoded}' hf '{hfDecoded}'");
                }
            }
            Assert.True(n == 0, $"{n}/{texts.Count} strings differ from HuggingFace ({style}):\n{failures}");
            if (style == nameof(SentencePieceJson.Style.LegacyNormalizers)) AssertRoundTrips(ours, texts);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Encode_ByteFallback_UsesByteTokensForUnseenChars()
    {
        var tok = Tokenizer.FromJson(SentencePieceJson.Build(s_training, 50, SentencePieceJson.Style.LegacyNormalizers));
        // "😀" is not in the training corpus: F0 9F 98 80 as <0xHH> tokens (ids 3 + byte).
        var ids = tok.Encode("😀", addSpecialTokens: false);
        Assert.Equal([tok.TokenToId("\u2581")!.Value, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80], ids);
        Assert.Equal("😀", tok.Decode(ids));
    }

    private static void AssertRoundTrips(Tokenizer tok, List<string> texts)
    {
        // Lossy by design: added tokens (lstrip/rstrip eat spaces) and U+2581 itself, which decodes as a space.
        string[] added = ["<unk>", "<s>", "</s>", "<|user|>", "yy", "hello", "[MASK]", "\u2581"];
        foreach (var s in texts.Where(t => !added.Any(a => t.Contains(a, StringComparison.Ordinal))))
        {
            Assert.Equal(TestText.WithoutLoneSurrogates(s), tok.Decode(tok.Encode(s, addSpecialTokens: false)));
        }
    }

    private static string[] TrainingCorpus()
    {
        var rng = new Random(17);
        string[] words =
        [
            "the", "reward", "model", "policy", "token", "gradient", "über", "naïve", "It's", "don't", "hello", "world", "train",
            "step", "loss", "12", "3.5", "(x)", "a", "is", "of", "and", "Привет", "мир", "code", "def", "return",
        ];
        return Enumerable.Range(0, 600)
            .Select(_ => string.Join(rng.Next(8) == 0 ? "  " : " ", Enumerable.Range(0, rng.Next(2, 14)).Select(_ => words[rng.Next(words.Length)])))
            .ToArray();
    }
}
