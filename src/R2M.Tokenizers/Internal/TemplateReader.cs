using System.Text.Json;

namespace R2M.Tokenizers.Internal;

/// <summary>
/// <c>TemplateProcessing</c> (huggingface/tokenizers processors/template.rs): the <c>single</c>
/// template is a list of <c>{"SpecialToken": {id, type_id}}</c> and <c>{"Sequence": {id: "A"}}</c>
/// items; a special token's ids come from <c>special_tokens[name].ids</c>, else from the vocab.
/// </summary>
internal static class TemplateReader
{
    public static PostProcessor Read(JsonElement p, string path, Dictionary<string, int> vocab, List<AddedTokenSpec> added)
    {
        var single = TokenizerJsonReader.Required(p, "single", path + ".");
        if (single.ValueKind != JsonValueKind.Array) throw new TokenizerFormatException($"{path}.single is not an array");
        var specials = p.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object ? st : default;
        var prefix = new List<int>();
        var suffix = new List<int>();
        var seenSequence = false;
        var i = 0;
        foreach (var item in single.EnumerateArray())
        {
            var itemPath = $"{path}.single[{i++}]";
            if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("Sequence", out _))
            {
                seenSequence = true;
                continue;
            }
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("SpecialToken", out var sp))
            {
                throw new TokenizerFormatException($"{itemPath} is neither SpecialToken nor Sequence");
            }
            var name = TokenizerJsonReader.StringOrNull(sp, "id", itemPath + ".SpecialToken.")
                       ?? throw new TokenizerFormatException($"{itemPath}.SpecialToken.id is missing");
            (seenSequence ? suffix : prefix).AddRange(IdsOf(name, specials, vocab, added, itemPath));
        }
        return new PostProcessor([.. prefix], [.. suffix]);
    }

    private static IEnumerable<int> IdsOf(string name, JsonElement specials, Dictionary<string, int> vocab,
        List<AddedTokenSpec> added, string path)
    {
        if (specials.ValueKind == JsonValueKind.Object && specials.TryGetProperty(name, out var entry)
            && entry.TryGetProperty("ids", out var ids) && ids.ValueKind == JsonValueKind.Array)
        {
            return ids.EnumerateArray().Select(x => x.TryGetInt32(out var v) && v >= 0
                ? v
                : throw new TokenizerFormatException($"{path}: special_tokens['{name}'].ids holds a non-integer")).ToList();
        }
        return [ResolveToken(name, vocab, added, path)];
    }

    /// <summary>Id of <c>[cls_token, cls_id]</c> style pairs of Bert/RobertaProcessing.</summary>
    public static int PairId(JsonElement p, string name, string path)
    {
        var pair = TokenizerJsonReader.Required(p, name, path + ".");
        if (pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2 && pair[1].TryGetInt32(out var id)) return id;
        throw new TokenizerFormatException($"{path}.{name} must be [token, id]");
    }

    private static int ResolveToken(string token, Dictionary<string, int> vocab, List<AddedTokenSpec> added, string path)
    {
        foreach (var a in added)
        {
            if (a.Content == token) return a.Id;
        }
        return vocab.TryGetValue(token, out var id)
            ? id
            : throw new TokenizerFormatException($"{path}: special token '{token}' is neither an added token nor in the vocab");
    }
}
