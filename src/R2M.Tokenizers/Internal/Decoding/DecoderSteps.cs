using System.Text;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal.Decoding;

/// <summary>
/// One <c>decoder</c> of tokenizer.json: a list of token strings in, a list out
/// (huggingface/tokenizers decoders/*.rs <c>decode_chain</c>); the last list is concatenated.
/// </summary>
internal abstract class DecoderStep
{
    public abstract List<string> Apply(List<string> tokens);
}

/// <summary>
/// <c>ByteLevel</c>: a token whose chars are all GPT-2 byte images becomes those bytes; any other
/// token contributes its own UTF-8 (decoders/byte_level.rs decides per token, not per char). All
/// bytes are then read as UTF-8, each maximal invalid subsequence becoming one U+FFFD.
/// </summary>
internal sealed class ByteLevelStep : DecoderStep
{
    public override List<string> Apply(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) bytes.AddRange(TokenBytes(t));
        return [Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }

    public static byte[] TokenBytes(string token)
    {
        var result = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            var c = token[i];
            var b = c < ByteLevelTable.CharToByte.Length ? ByteLevelTable.CharToByte[c] : (short)-1;
            if (b < 0) return Encoding.UTF8.GetBytes(token);
            result[i] = (byte)b;
        }
        return result;
    }
}

/// <summary>
/// <c>Metaspace {replacement, prepend_scheme}</c>: the replacement char becomes a space, except in
/// the first token when a prefix was prepended at encode time (there every one is dropped, as
/// pre_tokenizers/metaspace.rs does).
/// </summary>
internal sealed class MetaspaceStep(char replacement, bool prepends) : DecoderStep
{
    public override List<string> Apply(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            result.Add(i == 0 && prepends
                ? tokens[i].Replace(replacement.ToString(), "", StringComparison.Ordinal)
                : tokens[i].Replace(replacement, ' '));
        }
        return result;
    }
}

/// <summary><c>Replace {pattern, content}</c> applied to each token.</summary>
internal sealed class ReplaceStep(ReplaceNormalizer replace) : DecoderStep
{
    public override List<string> Apply(List<string> tokens) => tokens.ConvertAll(replace.Normalize);
}

/// <summary>
/// <c>ByteFallback</c>: runs of <c>&lt;0xHH&gt;</c> tokens become the text of their bytes; a run that is
/// not valid UTF-8 becomes one U+FFFD per byte (decoders/byte_fallback.rs).
/// </summary>
internal sealed class ByteFallbackStep : DecoderStep
{
    public override List<string> Apply(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var t in tokens)
        {
            if (TryByte(t, out var b))
            {
                run.Add(b);
                continue;
            }
            Flush(run, result);
            result.Add(t);
        }
        Flush(run, result);
        return result;
    }

    private static bool TryByte(string t, out byte b)
    {
        b = 0;
        return t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
               && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out b);
    }

    private static readonly UTF8Encoding s_strict = new(false, throwOnInvalidBytes: true);

    private static void Flush(List<byte> run, List<string> result)
    {
        if (run.Count == 0) return;
        try
        {
            result.Add(s_strict.GetString(run.ToArray()));
        }
        catch (DecoderFallbackException)
        {
            for (var i = 0; i < run.Count; i++) result.Add("\uFFFD");
        }
        run.Clear();
    }
}

/// <summary><c>Fuse</c>: all tokens become one.</summary>
internal sealed class FuseStep : DecoderStep
{
    public override List<string> Apply(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary><c>Strip {content, start, stop}</c>: up to start leading and stop trailing <c>content</c> chars off each token.</summary>
internal sealed class StripStep(string content, int start, int stop) : DecoderStep
{
    public override List<string> Apply(List<string> tokens) => tokens.ConvertAll(Strip);

    private string Strip(string token)
    {
        // Whole chars (code points) are compared, as decoders/strip.rs does over token.chars().
        var runes = token.EnumerateRunes().ToList();
        var target = Rune.GetRuneAt(content, 0);
        var from = 0;
        while (from < Math.Min(start, runes.Count) && runes[from] == target) from++;
        var to = runes.Count;
        for (var i = 0; i < stop && to > from && runes[to - 1] == target; i++) to--;
        var sb = new StringBuilder(token.Length);
        for (var i = from; i < to; i++) sb.Append(runes[i].ToString());
        return sb.ToString();
    }
}

/// <summary>The whole <c>decoder</c> block (a Sequence flattened), or null for tokenizers' default (join with spaces).</summary>
internal sealed class DecoderChain(DecoderStep[] steps)
{
    /// <summary>True when the chain is exactly one ByteLevel decoder (the fast path of <see cref="TokenDecoder"/>).</summary>
    public bool IsByteLevelOnly => steps is [ByteLevelStep];

    public string Decode(List<string> tokens)
    {
        foreach (var s in steps) tokens = s.Apply(tokens);
        return string.Concat(tokens);
    }
}
