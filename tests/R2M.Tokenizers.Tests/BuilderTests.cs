using System.Text;

namespace R2M.Tokenizers.Tests;

/// <summary>The demo tokenizer made by <see cref="TokenizerBuilder"/>: valid for us and for the reference.</summary>
public sealed class BuilderTests
{
    private static readonly string[] s_corpus = BuildCorpus();

    private static string[] BuildCorpus()
    {
        var rng = new Random(3);
        string[] words = ["the", "reward", "model", "policy", "token", "gradient", "über", "数据", "🙂", "it's", "12", "\n"];
        return Enumerable.Range(0, 400)
            .Select(_ => string.Join(" ", Enumerable.Range(0, rng.Next(3, 20)).Select(_ => words[rng.Next(words.Length)])))
            .ToArray();
    }

    private static TokenizerBuilder Demo() =>
        TokenizerBuilder.TrainByteLevel(s_corpus, 300).WithBosToken("<bos>").AddSpecialToken("<eos>").AddSpecialToken("<pad>");

    [Fact]
    public void TrainByteLevel_FewMerges_LearnsExactlyThatMany()
    {
        Assert.Equal(20, TokenizerBuilder.TrainByteLevel(s_corpus, 20).Merges.Count);
    }

    [Fact]
    public void TrainByteLevel_ManyMerges_StopsWhenEveryWordIsOneToken()
    {
        var b = Demo();
        Assert.InRange(b.Merges.Count, 20, 299);
        var tok = b.Build();
        Assert.Equal(256 + b.Merges.Count + 3, tok.VocabSize);
        Assert.Equal(256 + b.Merges.Count + 1, tok.TokenToId("<eos>"));
        foreach (var word in new[] { " reward", " gradient", " über", " 数据", "policy" })
        {
            Assert.Equal(2, tok.Encode(word).Length); // <bos> + one token
        }
    }

    [Fact]
    public void Build_Encode_PrependsBosAndSplitsSpecials()
    {
        var tok = Demo().Build();
        var bos = tok.TokenToId("<bos>")!.Value;
        var eos = tok.TokenToId("<eos>")!.Value;
        var ids = tok.Encode("the model<eos>");
        Assert.Equal(bos, ids[0]);
        Assert.Equal(eos, ids[^1]);
        Assert.Equal("<bos>the model<eos>", tok.Decode(ids));
        Assert.Equal("the model", tok.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("the model", tok.Decode(tok.Encode("the model", addSpecialTokens: false)));
    }

    [Fact]
    public void Save_ThenFromFile_EncodesIdentically()
    {
        var b = Demo();
        var path = Path.Combine(Path.GetTempPath(), $"r2m-demo-{Guid.NewGuid():N}.json");
        try
        {
            b.Save(path);
            var a = b.Build();
            var c = Tokenizer.FromFile(path);
            foreach (var s in s_corpus) Assert.Equal(a.Encode(s), c.Encode(s));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void LegacyMergeStrings_EncodeLikePairs()
    {
        var b = Demo();
        var pairs = b.Build();
        var legacyJson = ToLegacyMerges(b);
        var legacy = Tokenizer.FromJson(legacyJson);
        foreach (var s in s_corpus.Take(100)) Assert.Equal(pairs.Encode(s), legacy.Encode(s));
    }

    [Fact]
    public void Encode_LongRandomWords_MatchesNaiveBpe()
    {
        var rng = new Random(11);
        var corpus = Enumerable.Range(0, 300).Select(_ => RandomWord(rng, rng.Next(2, 30))).ToArray();
        var b = TokenizerBuilder.TrainByteLevel(corpus, 200);
        var tok = b.Build();
        for (var t = 0; t < 200; t++)
        {
            var word = RandomWord(rng, rng.Next(1, 400));
            var expected = NaiveBpe(word, b.Merges).Select(s => tok.TokenToId(s)!.Value).ToArray();
            Assert.Equal(expected, tok.Encode(word, addSpecialTokens: false));
        }
    }

    [Fact]
    public void DemoTokenizer_HuggingFaceLoadsIt_AndAgrees()
    {
        var b = Demo();
        var path = Path.Combine(Path.GetTempPath(), $"r2m-demo-{Guid.NewGuid():N}.json");
        try
        {
            b.Save(path);
            var texts = s_corpus.Concat(DifferentialCorpus.Build(1500, seed: 5)).ToList();
            texts.Add("<bos><eos><pad> <eos>x");
            using var reference = new HuggingFace.HuggingFaceReference(path);
            var tok = Tokenizer.FromFile(path);
            for (var i = 0; i < texts.Count; i++) Assert.Equal(reference.Encode(texts[i]), tok.Encode(texts[i]));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string RandomWord(Random rng, int n) => new(Enumerable.Range(0, n).Select(_ => "abc"[rng.Next(3)]).ToArray());

    // Textbook BPE: repeatedly merge the lowest-ranked adjacent pair, leftmost on ties.
    private static List<string> NaiveBpe(string word, IReadOnlyList<(string A, string B)> merges)
    {
        var rank = new Dictionary<(string, string), int>();
        for (var i = 0; i < merges.Count; i++) rank.TryAdd(merges[i], i);
        var sym = word.Select(c => c.ToString()).ToList();
        while (true)
        {
            var best = -1;
            var bestRank = int.MaxValue;
            for (var i = 0; i + 1 < sym.Count; i++)
            {
                if (rank.TryGetValue((sym[i], sym[i + 1]), out var r) && r < bestRank) (best, bestRank) = (i, r);
            }
            if (best < 0) return sym;
            sym[best] += sym[best + 1];
            sym.RemoveAt(best + 1);
        }
    }

    private static string ToLegacyMerges(TokenizerBuilder b)
    {
        var json = b.ToJson();
        var start = json.IndexOf("\"merges\"", StringComparison.Ordinal);
        var sb = new StringBuilder(json[..start]).Append("\"merges\": [");
        sb.Append(string.Join(",", b.Merges.Select(m => System.Text.Json.JsonSerializer.Serialize(m.A + " " + m.B))));
        return sb.Append("]}}").ToString();
    }
}
