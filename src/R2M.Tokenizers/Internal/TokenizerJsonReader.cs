using System.Text.Json;
using R2M.Tokenizers.Internal.Bpe;
using R2M.Tokenizers.Internal.Decoding;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal;

/// <summary>Everything a <see cref="Tokenizer"/> is built from.</summary>
internal sealed record TokenizerParts(
    BpeModel Model, Dictionary<string, int> Vocab, List<AddedTokenSpec> AddedTokens, Normalizer? Normalizer,
    PreTokenizerPipeline PreTokenizer, PostProcessor PostProcessor, DecoderChain? Decoder);

/// <summary>
/// Reads a HuggingFace <c>tokenizer.json</c> (huggingface/tokenizers' serialization of TokenizerImpl). Every unsupported or
/// malformed field is reported as a <see cref="TokenizerFormatException"/> naming the JSON path.
/// </summary>
internal static class TokenizerJsonReader
{
    // Set for the duration of one Read (loading is synchronous on the calling thread): tests use
    // it to route the known split patterns through the generic regex path.
    [ThreadStatic] private static bool t_forceGenericRegex;

    private static bool ForceGenericRegex => t_forceGenericRegex;

    public static TokenizerParts Read(string json, string source, bool forceGenericRegex = false)
    {
        t_forceGenericRegex = forceGenericRegex;
        try
        {
            return ReadDocument(json, source);
        }
        finally
        {
            t_forceGenericRegex = false;
        }
    }

    private static TokenizerParts ReadDocument(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{source}: invalid JSON: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return ReadRoot(doc.RootElement);
            }
            catch (TokenizerFormatException e)
            {
                throw new TokenizerFormatException($"{source}: {e.Message}", e);
            }
        }
    }

    private static TokenizerParts ReadRoot(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException("root is not a JSON object");
        var model = Required(root, "model", "");
        var (bpe, vocab) = ReadModel(model);
        var added = ReadAddedTokens(root);
        var pre = ReadPreTokenizer(Optional(root, "pre_tokenizer"));
        var post = ReadPostProcessor(Optional(root, "post_processor"), "post_processor", vocab, added);
        var decoder = DecoderReader.Read(Optional(root, "decoder"));
        return new TokenizerParts(bpe, vocab, added, ReadNormalizer(Optional(root, "normalizer"), "normalizer"),
            pre, post, decoder);
    }

    private static (BpeModel, Dictionary<string, int>) ReadModel(JsonElement model)
    {
        var type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type is not null && type != "BPE")
        {
            throw new TokenizerFormatException($"model.type '{type}' is not supported (supported: BPE)");
        }
        if (Optional(model, "dropout") is { ValueKind: JsonValueKind.Number } dropout && dropout.GetDouble() is > 0 and < 1)
        {
            throw new TokenizerFormatException("model.dropout is not supported at inference (set it to null)");
        }
        var vocabEl = Required(model, "vocab", "model.");
        if (vocabEl.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException("model.vocab is not an object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabEl.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0 || id > Tokenizer.MaxTokenId)
            {
                throw new TokenizerFormatException($"model.vocab['{p.Name}']: id must be an integer in [0, {Tokenizer.MaxTokenId}]");
            }
            vocab[p.Name] = id;
        }
        var options = new BpeOptions(
            StringOrNull(model, "unk_token", "model."), Bool(model, "fuse_unk", "model."), Bool(model, "byte_fallback", "model."),
            Bool(model, "ignore_merges", "model."), StringOrNull(model, "continuing_subword_prefix", "model."),
            StringOrNull(model, "end_of_word_suffix", "model."));
        return (new BpeModel(vocab, ReadMerges(Required(model, "merges", "model.")), options), vocab);
    }

    private static List<(string, string)> ReadMerges(JsonElement merges)
    {
        if (merges.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException("model.merges is not an array");
        var result = new List<(string, string)>(merges.GetArrayLength());
        var i = 0;
        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                // Legacy "a b" form (tokenizers < 0.20); "#version" header lines are skipped.
                var s = m.GetString()!;
                if (i == 0 && s.StartsWith("#version", StringComparison.Ordinal)) { i++; continue; }
                var parts = s.Split(' ');
                if (parts.Length != 2) throw new TokenizerFormatException($"model.merges[{i}] \"{s}\" is not of the form \"a b\"");
                result.Add((parts[0], parts[1]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                result.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else
            {
                throw new TokenizerFormatException($"model.merges[{i}] is neither \"a b\" nor [\"a\", \"b\"]");
            }
            i++;
        }
        return result;
    }

    private static List<AddedTokenSpec> ReadAddedTokens(JsonElement root)
    {
        var list = new List<AddedTokenSpec>();
        if (Optional(root, "added_tokens") is not { } arr) return list;
        if (arr.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException("added_tokens is not an array");
        var i = 0;
        foreach (var t in arr.EnumerateArray())
        {
            var path = $"added_tokens[{i++}].";
            if (t.ValueKind != JsonValueKind.Object) throw new TokenizerFormatException($"{path[..^1]} is not an object");
            var idEl = Required(t, "id", path);
            if (!idEl.TryGetInt32(out var id) || id < 0 || id > Tokenizer.MaxTokenId)
            {
                throw new TokenizerFormatException($"{path}id must be an integer in [0, {Tokenizer.MaxTokenId}]");
            }
            var content = StringOrNull(t, "content", path) ?? throw new TokenizerFormatException($"{path}content is missing");
            list.Add(new AddedTokenSpec(id, content, Bool(t, "single_word", path), Bool(t, "lstrip", path),
                Bool(t, "rstrip", path), Bool(t, "normalized", path), Bool(t, "special", path)));
        }
        return list;
    }

    private static PreTokenizerPipeline ReadPreTokenizer(JsonElement? el)
    {
        if (el is not { } pre) return PreTokenizerPipeline.None;
        var stages = new List<PreTokenizerStage>();
        var byteLevel = false;
        AddPreTokenizer(pre, "pre_tokenizer", stages, ref byteLevel);
        return new PreTokenizerPipeline([.. stages], byteLevel);
    }

    private static void AddPreTokenizer(JsonElement el, string path, List<PreTokenizerStage> stages, ref bool byteLevel)
    {
        var type = TypeOf(el, path);
        switch (type)
        {
            case "Sequence":
                var i = 0;
                foreach (var child in ArrayOf(el, "pretokenizers", path))
                {
                    AddPreTokenizer(child, $"{path}.pretokenizers[{i++}]", stages, ref byteLevel);
                }
                break;
            case "ByteLevel":
                stages.Add(new ByteLevelStage(Bool(el, "add_prefix_space", path + "."), BoolOr(el, "use_regex", true)));
                byteLevel = true;
                break;
            case "Split":
                var finder = ReadPattern(Required(el, "pattern", path + "."), path + ".pattern");
                var behaviorName = StringOrNull(el, "behavior", path + ".") ?? "Isolated";
                if (!Enum.TryParse<SplitBehavior>(behaviorName, ignoreCase: false, out var behavior))
                {
                    throw new TokenizerFormatException($"{path}.behavior '{behaviorName}' is not one of " +
                        string.Join(", ", Enum.GetNames<SplitBehavior>()));
                }
                stages.Add(new SplitStage(finder, behavior, Bool(el, "invert", path + ".")));
                break;
            case "Metaspace":
                var (replacement, scheme, split) = DecoderReader.ReadMetaspace(el, path);
                stages.Add(new MetaspaceStage(replacement, scheme, split));
                break;
            default:
                throw new TokenizerFormatException($"{path}.type '{type}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace)");
        }
    }

    internal static IMatchFinder ReadPattern(JsonElement pattern, string path)
    {
        if (pattern.ValueKind == JsonValueKind.Object && pattern.TryGetProperty("Regex", out var rx) && rx.ValueKind == JsonValueKind.String)
        {
            var text = rx.GetString()!;
            return (ForceGenericRegex ? null : PatternScanner.ForPattern(text)) ?? (IMatchFinder)new RegexMatchFinder(text);
        }
        if (pattern.ValueKind == JsonValueKind.Object && pattern.TryGetProperty("String", out var str) && str.ValueKind == JsonValueKind.String)
        {
            return new LiteralMatchFinder(str.GetString()!);
        }
        throw new TokenizerFormatException($"{path} must be {{\"Regex\": \"...\"}} or {{\"String\": \"...\"}}");
    }

    private static Normalizer? ReadNormalizer(JsonElement? el, string path)
    {
        if (el is not { } n) return null;
        var type = TypeOf(n, path);
        return type switch
        {
            "NFC" => new NfcNormalizer(),
            "Lowercase" => new LowercaseNormalizer(),
            "Prepend" => new PrependNormalizer(StringOrNull(n, "prepend", path + ".") ?? ""),
            "Replace" => ReadReplace(n, path),
            "Strip" => new StripNormalizer(BoolOr(n, "strip_left", true), BoolOr(n, "strip_right", true)),
            "Sequence" => new SequenceNormalizer(ArrayOf(n, "normalizers", path)
                .Select((c, i) => ReadNormalizer(c, $"{path}.normalizers[{i}]")!).ToArray()),
            _ => throw new TokenizerFormatException(
                $"{path}.type '{type}' is not supported (supported: NFC, Lowercase, Prepend, Replace, Strip, Sequence)"),
        };
    }

    /// <summary><c>Replace {pattern, content}</c>, as a normalizer or a decoder.</summary>
    internal static ReplaceNormalizer ReadReplace(JsonElement n, string path) =>
        new(ReadPattern(Required(n, "pattern", path + "."), path + ".pattern"), StringOrNull(n, "content", path + ".") ?? "");

    private static PostProcessor ReadPostProcessor(JsonElement? el, string path, Dictionary<string, int> vocab, List<AddedTokenSpec> added)
    {
        if (el is not { } p) return PostProcessor.None;
        var type = TypeOf(p, path);
        switch (type)
        {
            case "ByteLevel":
                return PostProcessor.None; // adjusts offsets only
            case "Sequence":
                return PostProcessor.Chain(ArrayOf(p, "processors", path)
                    .Select((c, i) => ReadPostProcessor(c, $"{path}.processors[{i}]", vocab, added)).ToList());
            case "TemplateProcessing":
                return TemplateReader.Read(p, path, vocab, added);
            case "BertProcessing":
            case "RobertaProcessing":
                return new PostProcessor([TemplateReader.PairId(p, "cls", path)], [TemplateReader.PairId(p, "sep", path)]);
            default:
                throw new TokenizerFormatException($"{path}.type '{type}' is not supported " +
                    "(supported: ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)");
        }
    }

    internal static JsonElement Required(JsonElement obj, string name, string path) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
            ? v
            : throw new TokenizerFormatException($"{path}{name} is missing");

    private static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    internal static string TypeOf(JsonElement el, string path) =>
        el.ValueKind == JsonValueKind.Object && el.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new TokenizerFormatException($"{path}.type is missing");

    internal static IEnumerable<JsonElement> ArrayOf(JsonElement el, string name, string path)
    {
        var arr = Required(el, name, path + ".");
        if (arr.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException($"{path}.{name} is not an array");
        return arr.EnumerateArray().ToList();
    }

    internal static string? StringOrNull(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new TokenizerFormatException($"{path}{name} is not a string");
    }

    private static bool Bool(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new TokenizerFormatException($"{path}{name} is not a boolean"),
        };
    }

    private static bool BoolOr(JsonElement obj, string name, bool fallback) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
}
