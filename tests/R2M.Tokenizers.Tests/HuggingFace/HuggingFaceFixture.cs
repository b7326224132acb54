namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// One tokenizer.json with the differential corpus and HuggingFace's ids for it, computed once and
/// shared by the tests of that file. The corpus: the generated strings of <see cref="DifferentialCorpus"/>,
/// strings built around every Unicode whitespace code point (and U+FEFF, U+180E, U+200B, U+2060,
/// which are not), and strings with unpaired surrogates.
/// </summary>
public abstract class HuggingFaceFixture : IDisposable
{
    protected HuggingFaceFixture(string name, string path, params string[] lossyAround)
    {
        Name = name;
        Path = path;
        _lossyAround = lossyAround;
        Reference = new HuggingFaceReference(path);
        Texts = DifferentialCorpus.Build(ReferenceFixture.CorpusSize);
        Texts.AddRange(DifferentialCorpus.AroundWhitespace());
        Texts.AddRange(DifferentialCorpus.WithLoneSurrogates());
        Expected = Texts.Select(Reference.Encode).ToArray();
        Tokenizer = Tokenizer.FromFile(path);
    }

    public string Name { get; }
    public string Path { get; }

    private readonly string[] _lossyAround;

    /// <summary>
    /// Whether Decode(Encode(s)) must give s back (up to lone surrogates and NFC). Llama-2-style
    /// files are lossy by design next to an added token (the text after it gets its own U+2581
    /// prefix, decoded as a space) and on U+2581 itself (decoded as a space); HuggingFace too.
    /// </summary>
    public bool RoundTrips(string s) => !_lossyAround.Any(x => s.Contains(x, StringComparison.Ordinal));

    internal HuggingFaceReference Reference { get; }
    public List<string> Texts { get; }
    public int[][] Expected { get; }
    public Tokenizer Tokenizer { get; }

    public void Dispose() => Reference.Dispose();
}

public sealed class HfLlama3Fixture() : HuggingFaceFixture("llama3", TestPaths.PackagedTokenizer("llama3"));

public sealed class HfQwen3Fixture() : HuggingFaceFixture("qwen3", TestPaths.PackagedTokenizer("qwen3"));

public sealed class HfDeepSeekV3Fixture() : HuggingFaceFixture("deepseek_v3", TestPaths.PackagedTokenizer("deepseek_v3"));

public sealed class HfGemma3Fixture() : HuggingFaceFixture("gemma3", TestPaths.PackagedTokenizer("gemma3"), "\u2581");

public sealed class HfLlama2Fixture() : HuggingFaceFixture("llama2", TestPaths.PackagedTokenizer("llama2"), "\u2581", "<s>", "</s>", "<unk>");
