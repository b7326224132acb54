using System.Text.Json.Nodes;

namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// Writes small SentencePiece-style BPE tokenizer.json files by code, the way Llama-2 / TinyLlama /
/// Mistral files are laid out: <c>&lt;unk&gt; &lt;s&gt; &lt;/s&gt;</c>, the 256 <c>&lt;0xHH&gt;</c>
/// byte tokens, the characters seen in training, then one token per merge learned from the corpus
/// (words cut before each U+2581, most frequent adjacent pair first, ties to the ordinally smallest).
/// </summary>
internal static class SentencePieceJson
{
    public const char Meta = '\u2581';

    public enum Style
    {
        /// <summary>Llama-2 legacy: Prepend + Replace normalizers, no pre-tokenizer, Replace/ByteFallback/Fuse/Strip decoders.</summary>
        LegacyNormalizers,

        /// <summary>Newer files: Metaspace pre-tokenizer (prepend_scheme first, split false) and Metaspace decoder.</summary>
        MetaspaceFirst,

        /// <summary>Metaspace (prepend_scheme always, split true), no byte fallback: unknown chars become a fused &lt;unk&gt;.</summary>
        MetaspaceUnk,
    }

    public static string Build(IEnumerable<string> corpus, int mergeCount, Style style, bool crossingMerge = false)
    {
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in corpus)
        {
            var text = Meta + line.Replace(' ', Meta);
            var start = 0;
            for (var i = 1; i <= text.Length; i++)
            {
                if (i < text.Length && !(text[i] == Meta && text[i - 1] != Meta)) continue;
                var w = text[start..i];
                words[w] = words.GetValueOrDefault(w) + 1;
                start = i;
            }
        }
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (var b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = vocab.Count;
        var symbols = words.Keys.ToDictionary(w => w, w => w.EnumerateRunes().Select(r => r.ToString()).ToList());
        foreach (var ch in symbols.Values.SelectMany(s => s).Distinct().Order(StringComparer.Ordinal)) vocab[ch] = vocab.Count;
        var merges = new JsonArray();
        for (var m = 0; m < mergeCount; m++)
        {
            var best = BestPair(symbols, words);
            if (best is not { } pair) break;
            merges.Add(new JsonArray(pair.A, pair.B));
            vocab[pair.A + pair.B] = vocab.Count;
            foreach (var s in symbols.Values) MergeInPlace(s, pair);
        }
        if (crossingMerge)
        {
            // A token holding U+2581 after another char ("e▁"): BPE may then merge across words.
            merges.Insert(0, new JsonArray("e", Meta.ToString()));
            vocab["e" + Meta] = vocab.Count;
        }
        return Document(vocab, merges, style).ToJsonString();
    }

    private static (string A, string B)? BestPair(Dictionary<string, List<string>> symbols, Dictionary<string, int> words)
    {
        var counts = new Dictionary<(string, string), int>();
        foreach (var (word, s) in symbols)
        {
            for (var i = 0; i + 1 < s.Count; i++) counts[(s[i], s[i + 1])] = counts.GetValueOrDefault((s[i], s[i + 1])) + words[word];
        }
        if (counts.Count == 0) return null;
        var top = counts.Max(kv => kv.Value);
        if (top < 2) return null;
        return counts.Where(kv => kv.Value == top).Select(kv => kv.Key)
            .OrderBy(p => p.Item1, StringComparer.Ordinal).ThenBy(p => p.Item2, StringComparer.Ordinal).First();
    }

    private static void MergeInPlace(List<string> s, (string A, string B) pair)
    {
        for (var i = 0; i + 1 < s.Count; i++)
        {
            if (s[i] != pair.A || s[i + 1] != pair.B) continue;
            s[i] = pair.A + pair.B;
            s.RemoveAt(i + 1);
        }
    }

    private static JsonObject Document(JsonObject vocab, JsonArray merges, Style style)
    {
        var meta = Meta.ToString();
        JsonNode Replace(string from, string to) => new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = from }, ["content"] = to };
        JsonNode Metaspace(string scheme, bool split) => new JsonObject
        {
            ["type"] = "Metaspace", ["replacement"] = meta, ["prepend_scheme"] = scheme, ["split"] = split,
        };
        var byteFallback = style != Style.MetaspaceUnk;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(0, "<unk>", special: true), Added(1, "<s>", special: true), Added(2, "</s>", special: true),
                Added(vocab.Count, "<|user|>", special: true, lstrip: true, rstrip: true),
                Added(vocab.Count + 1, "yy", singleWord: true),
                Added(vocab.Count + 2, "hello world", normalized: true),
                Added(vocab.Count + 3, "[MASK]", special: true, lstrip: true)),
            ["normalizer"] = style == Style.LegacyNormalizers
                ? new JsonObject
                {
                    ["type"] = "Sequence",
                    ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "Prepend", ["prepend"] = meta }, Replace(" ", meta)),
                }
                : null,
            ["pre_tokenizer"] = style switch
            {
                Style.MetaspaceFirst => Metaspace("first", false),
                Style.MetaspaceUnk => Metaspace("always", true),
                _ => null,
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(),
                ["special_tokens"] = new JsonObject
                {
                    ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<s>") },
                },
            },
            ["decoder"] = style switch
            {
                Style.LegacyNormalizers => new JsonObject
                {
                    ["type"] = "Sequence",
                    ["decoders"] = new JsonArray(Replace(meta, " "), new JsonObject { ["type"] = "ByteFallback" },
                        new JsonObject { ["type"] = "Fuse" },
                        new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
                },
                Style.MetaspaceFirst => Metaspace("first", false),
                _ => Metaspace("always", true),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = byteFallback, ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
    }

    private static JsonObject Added(int id, string content, bool special = false, bool lstrip = false, bool rstrip = false,
        bool singleWord = false, bool normalized = false) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip,
        ["normalized"] = normalized, ["special"] = special,
    };
}
