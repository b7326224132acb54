using System.Text;
using System.Text.Json;
using R2M.Tokenizers.Internal;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers;

/// <summary>
/// Makes a small byte-level BPE <c>tokenizer.json</c> for the project's own demo models: either
/// trained from a corpus (<see cref="TrainByteLevel"/>) or from given merges. The result uses the
/// GPT-2 layout: ByteLevel pre-tokenizer (GPT-2 regex, no prefix space), ByteLevel decoder, the
/// 256 byte tokens as ids 0..255 in byte order, one id per merge after them, then the special
/// tokens, and a TemplateProcessing post-processor that prepends the BOS token when one is set.
/// </summary>
public sealed class TokenizerBuilder
{
    private readonly List<(string A, string B)> _merges = new();
    private readonly List<string> _special = new();
    private string? _bos;

    /// <summary>Byte-level merges (each side in GPT-2 byte-char form), in rank order.</summary>
    public IReadOnlyList<(string A, string B)> Merges => _merges;

    /// <summary>
    /// Trains <paramref name="mergeCount"/> merges on <paramref name="corpus"/>: words are the GPT-2
    /// pre-tokens; each step merges the most frequent adjacent pair (ties: ordinally smallest pair,
    /// so training is deterministic). Stops early when no pair occurs twice.
    /// </summary>
    public static TokenizerBuilder TrainByteLevel(IEnumerable<string> corpus, int mergeCount)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfNegative(mergeCount);
        var words = CountWords(corpus);
        var builder = new TokenizerBuilder();
        for (var m = 0; m < mergeCount; m++)
        {
            var best = BestPair(words);
            if (best is not { } pair) break;
            builder._merges.Add(pair);
            foreach (var w in words) MergeInPlace(w.Symbols, pair);
        }
        return builder;
    }

    /// <summary>Starts from explicit merges (byte-char form, e.g. ("Ġ", "t")).</summary>
    public static TokenizerBuilder FromMerges(IEnumerable<(string A, string B)> merges)
    {
        var b = new TokenizerBuilder();
        b._merges.AddRange(merges);
        return b;
    }

    /// <summary>Adds a special added token (e.g. "&lt;eos&gt;", "&lt;pad&gt;"); ids follow the merges in call order.</summary>
    public TokenizerBuilder AddSpecialToken(string content)
    {
        ArgumentException.ThrowIfNullOrEmpty(content);
        if (!_special.Contains(content)) _special.Add(content);
        return this;
    }

    /// <summary>Adds <paramref name="content"/> as a special token and prepends it to every encoding with special tokens.</summary>
    public TokenizerBuilder WithBosToken(string content)
    {
        AddSpecialToken(content);
        _bos = content;
        return this;
    }

    /// <summary>The tokenizer.json text.</summary>
    public string ToJson()
    {
        var vocab = BuildVocab();
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            WriteAddedTokens(w, vocab.Count);
            w.WriteNull("normalizer");
            WriteByteLevel(w, "pre_tokenizer", useRegex: true);
            WritePostProcessor(w, vocab.Count);
            WriteByteLevel(w, "decoder", useRegex: true);
            WriteModel(w, vocab);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes the tokenizer.json to <paramref name="path"/>.</summary>
    public void Save(string path) => File.WriteAllText(path, ToJson(), new UTF8Encoding(false));

    /// <summary>Loads the tokenizer this builder describes.</summary>
    public Tokenizer Build() => Tokenizer.FromJson(ToJson());

    private List<string> BuildVocab()
    {
        var vocab = new List<string>(256 + _merges.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var b = 0; b < 256; b++)
        {
            vocab.Add(ByteLevelTable.ByteToChar[b].ToString());
            seen.Add(vocab[^1]);
        }
        foreach (var (a, b) in _merges)
        {
            if (!seen.Contains(a) || !seen.Contains(b))
            {
                throw new InvalidOperationException($"merge (\"{a}\", \"{b}\") uses a token no earlier merge produced");
            }
            if (seen.Add(a + b)) vocab.Add(a + b);
        }
        return vocab;
    }

    private void WriteAddedTokens(Utf8JsonWriter w, int firstId)
    {
        w.WriteStartArray("added_tokens");
        for (var i = 0; i < _special.Count; i++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", firstId + i);
            w.WriteString("content", _special[i]);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string name, bool useRegex)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }

    private void WritePostProcessor(Utf8JsonWriter w, int firstSpecialId)
    {
        if (_bos is null)
        {
            WriteByteLevel(w, "post_processor", useRegex: true);
            return;
        }
        var bosId = firstSpecialId + _special.IndexOf(_bos);
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        w.WriteStartObject();
        w.WriteStartObject("SpecialToken");
        w.WriteString("id", _bos);
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", "A");
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteStartArray("pair");
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        w.WriteStartObject(_bos);
        w.WriteString("id", _bos);
        w.WriteStartArray("ids");
        w.WriteNumberValue(bosId);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        w.WriteStringValue(_bos);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private void WriteModel(Utf8JsonWriter w, List<string> vocab)
    {
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (var i = 0; i < vocab.Count; i++) w.WriteNumber(vocab[i], i);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (a, b) in _merges)
        {
            w.WriteStartArray();
            w.WriteStringValue(a);
            w.WriteStringValue(b);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private sealed record Word(List<string> Symbols, int Count);

    private static List<Word> CountWords(IEnumerable<string> corpus)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var matches = new List<(int Start, int Length)>();
        foreach (var text in corpus)
        {
            matches.Clear();
            PatternScanner.Gpt2.FindMatches(text, 0, matches);
            foreach (var (s, l) in matches)
            {
                var key = text.Substring(s, l);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }
        return counts.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new Word(Encoding.UTF8.GetBytes(kv.Key).Select(b => ByteLevelTable.ByteToChar[b].ToString()).ToList(), kv.Value))
            .ToList();
    }

    private static (string, string)? BestPair(List<Word> words)
    {
        var freq = new Dictionary<(string, string), long>();
        foreach (var w in words)
        {
            for (var i = 0; i + 1 < w.Symbols.Count; i++)
            {
                var key = (w.Symbols[i], w.Symbols[i + 1]);
                freq[key] = freq.GetValueOrDefault(key) + w.Count;
            }
        }
        (string, string)? best = null;
        long bestCount = 1;
        foreach (var (pair, count) in freq)
        {
            if (count > bestCount || (count == bestCount && best is { } b && Compare(pair, b) < 0))
            {
                best = pair;
                bestCount = count;
            }
        }
        return best;
    }

    private static int Compare((string, string) x, (string, string) y)
    {
        var c = string.CompareOrdinal(x.Item1, y.Item1);
        return c != 0 ? c : string.CompareOrdinal(x.Item2, y.Item2);
    }

    private static void MergeInPlace(List<string> symbols, (string A, string B) pair)
    {
        for (var i = 0; i + 1 < symbols.Count; i++)
        {
            if (symbols[i] == pair.A && symbols[i + 1] == pair.B)
            {
                symbols[i] = pair.A + pair.B;
                symbols.RemoveAt(i + 1);
            }
        }
    }
}
