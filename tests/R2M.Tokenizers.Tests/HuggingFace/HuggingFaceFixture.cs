namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// One tokenizer.json with the differential corpus and HuggingFace's ids for it, computed once and
/// shared by the tests of that file. The corpus: the generated strings of <see cref="DifferentialCorpus"/>,
/// strings built around every Unicode whitespace code point (and U+FEFF, U+180E, U+200B, U+2060,
/// which are not), and strings with unpaired surrogates.
/// </summary>
public abstract class HuggingFaceFixture : IDisposable
{
    protected HuggingFaceFixture(string name, string path, bool lossless)
    {
        Name = name;
        Path = path;
        Lossless = lossless;
        Reference = new HuggingFaceReference(path);
        Texts = DifferentialCorpus.Build(ReferenceFixture.CorpusSize);
        Texts.AddRange(DifferentialCorpus.AroundWhitespace());
        Texts.AddRange(DifferentialCorpus.WithLoneSurrogates());
        Expected = Texts.Select(Reference.Encode).ToArray();
        Tokenizer = Tokenizer.FromFile(path);
    }

    public string Name { get; }
    public string Path { get; }

    /// <summary>Decode(Encode(s)) gives s back (up to lone surrogates and the normalizer).</summary>
    public bool Lossless { get; }

    internal HuggingFaceReference Reference { get; }
    public List<string> Texts { get; }
    public int[][] Expected { get; }
    public Tokenizer Tokenizer { get; }

    public void Dispose() => Reference.Dispose();
}

public sealed class HfLlama3Fixture() : HuggingFaceFixture("llama3", TestPaths.PackagedTokenizer("llama3"), true);

public sealed class HfQwen3Fixture() : HuggingFaceFixture("qwen3", TestPaths.PackagedTokenizer("qwen3"), true);

public sealed class HfDeepSeekV3Fixture() : HuggingFaceFixture("deepseek_v3", TestPaths.PackagedTokenizer("deepseek_v3"), true);

public sealed class HfGemma3Fixture() : HuggingFaceFixture("gemma3", TestPaths.PackagedTokenizer("gemma3"), true);

public sealed class HfLlama2Fixture() : HuggingFaceFixture("llama2", TestPaths.PackagedTokenizer("llama2"), true);
