using System.Text.Json;
using R2M.Tokenizers.Internal.Decoding;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal;

/// <summary>
/// The <c>decoder</c> block and the Metaspace settings it shares with the pre-tokenizer. Every
/// unsupported type is refused naming its JSON path, e.g. <c>decoder.decoders[2].type 'CTC'</c>.
/// </summary>
internal static class DecoderReader
{
    private const string Supported = "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence";

    public static DecoderChain? Read(JsonElement? el)
    {
        if (el is not { } d) return null;
        var steps = new List<DecoderStep>();
        Add(d, "decoder", steps);
        return new DecoderChain([.. steps]);
    }

    private static void Add(JsonElement el, string path, List<DecoderStep> steps)
    {
        var type = TokenizerJsonReader.TypeOf(el, path);
        switch (type)
        {
            case "Sequence":
                var i = 0;
                foreach (var child in TokenizerJsonReader.ArrayOf(el, "decoders", path)) Add(child, $"{path}.decoders[{i++}]", steps);
                break;
            case "ByteLevel":
                steps.Add(new ByteLevelStep());
                break;
            case "Metaspace":
                var (replacement, scheme, _) = ReadMetaspace(el, path);
                steps.Add(new MetaspaceStep(replacement, scheme != MetaspaceStage.Scheme.Never));
                break;
            case "Replace":
                steps.Add(new ReplaceStep(TokenizerJsonReader.ReadReplace(el, path)));
                break;
            case "ByteFallback":
                steps.Add(new ByteFallbackStep());
                break;
            case "Fuse":
                steps.Add(new FuseStep());
                break;
            case "Strip":
                var content = TokenizerJsonReader.StringOrNull(el, "content", path + ".") ?? " ";
                if (content.EnumerateRunes().Count() != 1) throw new TokenizerFormatException($"{path}.content must be one character");
                steps.Add(new StripStep(content, NonNegative(el, "start", path), NonNegative(el, "stop", path)));
                break;
            default:
                throw new TokenizerFormatException($"{path}.type '{type}' is not supported (supported: {Supported})");
        }
    }

    /// <summary>replacement, prepend_scheme (legacy add_prefix_space: false means never), split (default true).</summary>
    public static (char Replacement, MetaspaceStage.Scheme Scheme, bool Split) ReadMetaspace(JsonElement el, string path)
    {
        var rep = TokenizerJsonReader.StringOrNull(el, "replacement", path + ".") ?? "\u2581";
        if (rep.Length != 1) throw new TokenizerFormatException($"{path}.replacement must be one BMP character");
        var schemeName = TokenizerJsonReader.StringOrNull(el, "prepend_scheme", path + ".") ?? "always";
        var scheme = schemeName switch
        {
            "always" => MetaspaceStage.Scheme.Always,
            "first" => MetaspaceStage.Scheme.First,
            "never" => MetaspaceStage.Scheme.Never,
            _ => throw new TokenizerFormatException($"{path}.prepend_scheme '{schemeName}' is not one of always, first, never"),
        };
        if (el.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False)
        {
            // pre_tokenizers/metaspace.rs: a legacy add_prefix_space=false must agree with the scheme
            // (whose default is always), else the file is refused.
            if (scheme != MetaspaceStage.Scheme.Never)
            {
                throw new TokenizerFormatException($"{path}.add_prefix_space false does not match prepend_scheme '{schemeName}'");
            }
            scheme = MetaspaceStage.Scheme.Never;
        }
        var split = !el.TryGetProperty("split", out var sp) || sp.ValueKind != JsonValueKind.False;
        return (rep[0], scheme, split);
    }

    private static int NonNegative(JsonElement el, string name, string path)
    {
        if (!el.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return 0;
        return v.TryGetInt32(out var n) && n >= 0 ? n : throw new TokenizerFormatException($"{path}.{name} must be a non-negative integer");
    }
}
