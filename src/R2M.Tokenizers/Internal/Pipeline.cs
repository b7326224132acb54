using System.Text;
using R2M.Tokenizers.Internal.PreTokenization;
using R2M.Tokenizers.Internal.Unicode;

namespace R2M.Tokenizers.Internal;

/// <summary>A <c>normalizer</c> block; the types the supported model families use.</summary>
internal abstract class Normalizer
{
    public abstract string Normalize(string text);
}

internal sealed class NfcNormalizer : Normalizer
{
    public override string Normalize(string text) => Nfc.Normalize(text);
}

internal sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary><c>Prepend {prepend}</c>: prefixes non-empty text (Llama-2 style "▁").</summary>
internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

/// <summary><c>Replace {pattern: {String|Regex}, content}</c>.</summary>
internal sealed class ReplaceNormalizer(IMatchFinder finder, string content) : Normalizer
{
    public override string Normalize(string text)
    {
        var matches = new List<(int Start, int Length)>();
        finder.FindMatches(text, 0, matches);
        if (matches.Count == 0) return text;
        var sb = new StringBuilder(text.Length);
        var prev = 0;
        foreach (var (s, l) in matches)
        {
            sb.Append(text, prev, s - prev).Append(content);
            prev = s + l;
        }
        return sb.Append(text, prev, text.Length - prev).ToString();
    }
}

/// <summary>
/// <c>Strip {strip_left, strip_right}</c>: Unicode White_Space off either end (normalizers/strip.rs).
/// White_Space has no member outside the BMP, so testing UTF-16 units is exact.
/// </summary>
internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override string Normalize(string text)
    {
        int start = 0, end = text.Length;
        while (left && start < end && CharClass.IsWhiteSpace(text[start])) start++;
        while (right && end > start && CharClass.IsWhiteSpace(text[end - 1])) end--;
        return start == 0 && end == text.Length ? text : text[start..end];
    }
}

internal sealed class SequenceNormalizer(Normalizer[] normalizers) : Normalizer
{
    public override string Normalize(string text)
    {
        foreach (var n in normalizers) text = n.Normalize(text);
        return text;
    }
}

/// <summary>
/// A <c>post_processor</c> block reduced to what a single sequence needs: ids to put before and
/// after the encoded text when special tokens are requested.
/// </summary>
internal sealed class PostProcessor(int[] prefix, int[] suffix)
{
    public static PostProcessor None { get; } = new([], []);

    public int[] Prefix { get; } = prefix;
    public int[] Suffix { get; } = suffix;

    /// <summary>Concatenation of processors (post_processor Sequence), applied in order.</summary>
    public static PostProcessor Chain(IEnumerable<PostProcessor> processors)
    {
        var pre = new List<int>();
        var suf = new List<int>();
        foreach (var p in processors)
        {
            pre.InsertRange(0, p.Prefix);
            suf.AddRange(p.Suffix);
        }
        return new PostProcessor([.. pre], [.. suf]);
    }
}
