using System.Globalization;
using System.Runtime.CompilerServices;

namespace R2M.Tokenizers.Internal.PreTokenization;

/// <summary>
/// Code-point classes used by the GPT-2 / Llama-3 / Qwen2 split patterns, with the semantics of
/// the reference implementation (JavaScript regexes with the <c>u</c> flag): <c>\p{L}</c> and
/// <c>\p{N}</c> are General_Category L* and N* of whole code points (astral included), and
/// <c>\s</c> is ECMAScript WhiteSpace + LineTerminator (ECMA-262 sections 12.2 and 12.3), which
/// differs from .NET's <c>\s</c> (.NET adds U+0085, lacks U+FEFF).
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

    public static bool IsJsWhiteSpace(int cp) => cp switch
    {
        '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F
            or 0x3000 or 0xFEFF => true,
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
            if (IsJsWhiteSpace(cp)) cls |= Space;
            t[cp] = cls;
        }
        return t;
    }
}
