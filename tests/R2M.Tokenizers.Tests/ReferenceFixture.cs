using R2M.Tokenizers.Internal.Unicode;

namespace R2M.Tokenizers.Tests;

/// <summary>
/// One packaged tokenizer with the corpus and the reference's ids for it, computed once (one node
/// run per tokenizer) and shared by the tests of that tokenizer.
/// </summary>
public abstract class ReferenceFixture
{
    public const int CorpusSize = 10_000;

    protected ReferenceFixture(string name)
    {
        Name = name;
        Json = File.ReadAllText(TestPaths.PackagedTokenizer(name));
        Texts = DifferentialCorpus.Build(CorpusSize);
        Texts.AddRange(DifferentialCorpus.WithLoneSurrogates());
        Expected = NodeReference.Encode(name, Texts);
        Tokenizer = Tokenizer.FromJson(Json);
    }

    public string Name { get; }
    public string Json { get; }
    public List<string> Texts { get; }
    public int[][] Expected { get; }
    public Tokenizer Tokenizer { get; }

    /// <summary>What Decode(Encode(s)) must give: s with lone surrogates as U+FFFD, NFC when the tokenizer normalizes.</summary>
    public string RoundTripOf(string s)
    {
        var clean = TestText.WithoutLoneSurrogates(s);
        return Name == "qwen3" ? Nfc.Normalize(clean) : clean;
    }
}

public sealed class Llama3Fixture() : ReferenceFixture("llama3");

public sealed class Qwen3Fixture() : ReferenceFixture("qwen3");
