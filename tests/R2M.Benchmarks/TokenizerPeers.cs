using System.Text.Json;
using System.Text.RegularExpressions;
using Ml = Microsoft.ML.Tokenizers;

namespace R2M.Benchmarks;

/// <summary>
/// Builds a Microsoft.ML.Tokenizers <see cref="Ml.BpeTokenizer"/> from a HuggingFace tokenizer.json
/// by hand (that package has no tokenizer.json loader): vocab, merges, added tokens as special
/// tokens, the file's Split regexes as .NET regex pre-tokenizers, and for SentencePiece-style files
/// a space-to-U+2581 normalizer. What it cannot express (byte fallback, NFC, Oniguruma's <c>\s</c>
/// and astral <c>\p{L}</c>) makes its ids differ on some documents; the benchmark counts them.
/// </summary>
internal static class MlPeer
{
    public static Ml.Tokenizer? TryBuild(string path, out string note)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        var vocab = model.GetProperty("vocab").EnumerateObject().Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList();
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString()).ToList();
        if (merges.Any(m => m.Count(c => c == ' ') != 1))
        {
            note = "merges containing spaces cannot be given to BpeOptions";
            return null;
        }
        var special = root.GetProperty("added_tokens").EnumerateArray()
            .ToDictionary(t => t.GetProperty("content").GetString()!, t => t.GetProperty("id").GetInt32());
        var patterns = new List<string>();
        var byteLevel = false;
        CollectPreTokenizers(root.TryGetProperty("pre_tokenizer", out var pre) ? pre : default, patterns, ref byteLevel);
        var options = new Ml.BpeOptions(vocab)
        {
            Merges = merges, SpecialTokens = special, ByteLevel = byteLevel,
            UnknownToken = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null,
            FuseUnknownTokens = model.TryGetProperty("fuse_unk", out var fuse) && fuse.ValueKind == JsonValueKind.True,
        };
        var regexes = patterns.Select(p => (Ml.PreTokenizer)new Ml.RegexPreTokenizer(new Regex(p, RegexOptions.Compiled), special)).ToList();
        if (regexes.Count == 1) options.PreTokenizer = regexes[0];
        else if (regexes.Count > 1) options.PreTokenizer = new Ml.CompositePreTokenizer(regexes, special);
        if (!byteLevel)
        {
            // The file has no splitting pre-tokenizer: the whole normalized text is one BPE word (as in
            // HuggingFace); without this, BpeTokenizer would split it at non-word chars such as U+2581.
            options.Normalizer = new SpaceToMetaNormalizer();
            options.PreTokenizer ??= new WholeText();
        }
        if (FirstTemplateToken(root) is { } bos) options.BeginningOfSentenceToken = bos;
        note = byteLevel ? $"byte-level BPE, {regexes.Count} regex pre-tokenizer(s)" : "BPE without byte fallback, spaces as U+2581";
        return Ml.BpeTokenizer.Create(options);
    }

    private static void CollectPreTokenizers(JsonElement el, List<string> patterns, ref bool byteLevel)
    {
        if (el.ValueKind != JsonValueKind.Object) return;
        switch (el.GetProperty("type").GetString())
        {
            case "Sequence":
                foreach (var c in el.GetProperty("pretokenizers").EnumerateArray()) CollectPreTokenizers(c, patterns, ref byteLevel);
                break;
            case "Split" when el.GetProperty("pattern").TryGetProperty("Regex", out var rx):
                patterns.Add(rx.GetString()!);
                break;
            case "ByteLevel":
                byteLevel = true;
                break;
        }
    }

    private static string? FirstTemplateToken(JsonElement root) =>
        root.TryGetProperty("post_processor", out var pp) && pp.ValueKind == JsonValueKind.Object
        && pp.GetProperty("type").GetString() == "TemplateProcessing" && pp.GetProperty("single")[0].TryGetProperty("SpecialToken", out var st)
            ? st.GetProperty("id").GetString()
            : null;

    /// <summary>No split: one piece for the whole text.</summary>
    private sealed class WholeText : Ml.PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => [(0, text.Length)];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => [(0, text.Length)];
    }

    /// <summary>The Replace(" " -> U+2581) normalizer of Gemma / Llama-2 style files.</summary>
    private sealed class SpaceToMetaNormalizer : Ml.Normalizer
    {
        public override string Normalize(string original) => original.Replace(' ', '\u2581');

        public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
    }
}
