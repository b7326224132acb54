using System.Globalization;
using System.Runtime.CompilerServices;

namespace R2M.Tokenizers.Internal.PreTokenization;

/// <summary>
/// Code-point classes used by the GPT-2 / Llama-3 / Qwen2 split patterns, with the semantics of
/// HuggingFace's Rust tokenizers (Oniguruma regexes over UTF-8): <c>\p{L}</c> and <c>\p{N}</c>
/// are General_Category L* and N* of whole code points (astral included), and <c>\s</c> is the
/// Unicode White_Space property (UAX #44, PropList.txt): U+0009-000D, U+0020, U+0085, U+00A0,
/// U+1680, U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000. U+FEFF (a format char) is not
/// whitespace. JavaScript's <c>\s</c> differs on exactly two of these (it has U+FEFF, lacks
/// U+0085); docs/tokenizer.md lists that deviation of the JavaScript peer.
/// </summary>
internal static class CharClass
{
    public const byte Letter = 1, Number = 2, Space = 4;

    private static readonly byte[] s_bmp = BuildBmp();

    /// <summary>Class bits of one code point.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Of(int cp) => cp < 0x10000 ? s_bmp[cp] : Astral(cp);

    /// <summary>Reads the code point at <paramref name="i"/>; a lone surrogate counts as one unit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CodePointAt(ReadOnlySpan<char> s, int i, out int width)
    {
        var c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            width = 2;
            return char.ConvertToUtf32(c, s[i + 1]);
        }
        width = 1;
        return c;
    }

    /// <summary>Unicode White_Space (what Rust's <c>char::is_whitespace</c> and Oniguruma's <c>\s</c> test).</summary>
    public static bool IsWhiteSpace(int cp) => cp switch
    {
        >= '\t' and <= '\r' or ' ' or 0x85 or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        >= 0x2000 and <= 0x200A => true,
        _ => false,
    };

    private static byte Astral(int cp) => FromCategory(CharUnicodeInfo.GetUnicodeCategory(cp));

    private static byte FromCategory(UnicodeCategory cat) => cat switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
        _ => 0,
    };

    private static byte[] BuildBmp()
    {
        var t = new byte[0x10000];
        for (var cp = 0; cp < t.Length; cp++)
        {
            // Surrogate code units get class 0 ("other"); well-formed pairs are classified as astral.
            var cls = cp is >= 0xD800 and <= 0xDFFF ? (byte)0 : FromCategory(CharUnicodeInfo.GetUnicodeCategory(cp));
            if (IsWhiteSpace(cp)) cls |= Space;
            t[cp] = cls;
        }
        return t;
    }
}
