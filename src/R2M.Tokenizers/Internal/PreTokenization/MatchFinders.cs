using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace R2M.Tokenizers.Internal.PreTokenization;

/// <summary>Finds the non-overlapping matches of a split pattern, left to right.</summary>
internal interface IMatchFinder
{
    /// <summary>Appends (start, length) of each match in <paramref name="s"/>, offset by <paramref name="baseIndex"/>.</summary>
    void FindMatches(ReadOnlySpan<char> s, int baseIndex, List<(int Start, int Length)> output);
}

/// <summary>Split pattern <c>{"String": "..."}</c>: ordinal occurrences of a literal.</summary>
internal sealed class LiteralMatchFinder(string literal) : IMatchFinder
{
    public void FindMatches(ReadOnlySpan<char> s, int baseIndex, List<(int Start, int Length)> output)
    {
        if (literal.Length == 0) return;
        var i = 0;
        while (i <= s.Length - literal.Length)
        {
            var k = s[i..].IndexOf(literal.AsSpan(), StringComparison.Ordinal);
            if (k < 0) break;
            output.Add((baseIndex + i + k, literal.Length));
            i += k + literal.Length;
        }
    }
}

/// <summary>
/// Split pattern <c>{"Regex": "..."}</c> for patterns without a hand-written scanner. The pattern
/// is translated to HuggingFace's (Oniguruma) semantics first: <c>\s</c>/<c>\S</c> become the
/// Unicode White_Space set, and the case-insensitive contraction group is spelled out with ASCII
/// case pairs (neither HuggingFace nor the JavaScript peer folds U+017F or U+212A into it).
/// .NET regexes see UTF-16 units, so text holding astral code points is matched through a proxy
/// string where each astral code point is one BMP char of the same general category; match
/// boundaries are mapped back. Literal astral chars inside a pattern are therefore not supported.
/// </summary>
internal sealed class RegexMatchFinder : IMatchFinder
{
    private const string WhiteSpaceSet = @"\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
    private readonly Regex _regex;

    public RegexMatchFinder(string pattern)
    {
        try
        {
            _regex = new Regex(Translate(pattern), RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException($"pre_tokenizer Split: invalid regex '{pattern}': {e.Message}", e);
        }
    }

    public void FindMatches(ReadOnlySpan<char> s, int baseIndex, List<(int Start, int Length)> output)
    {
        if (s.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            foreach (var m in _regex.EnumerateMatches(s))
            {
                output.Add((baseIndex + m.Index, m.Length));
            }
            return;
        }
        var (proxy, map) = BuildProxy(s);
        foreach (var m in _regex.EnumerateMatches(proxy))
        {
            var start = map[m.Index];
            output.Add((baseIndex + start, map[m.Index + m.Length] - start));
        }
    }

    internal static string Translate(string pattern)
    {
        // .NET's (?i) would also fold U+017F and U+212A; HuggingFace does not.
        pattern = pattern.Replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))",
            StringComparison.Ordinal);
        var sb = new StringBuilder(pattern.Length + 64);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                var n = pattern[++i];
                if (n == 's') sb.Append(inClass ? WhiteSpaceSet : "[" + WhiteSpaceSet + "]");
                else if (n == 'S' && !inClass) sb.Append("[^" + WhiteSpaceSet + "]");
                else sb.Append(c).Append(n);
                continue;
            }
            if (c == '[' && !inClass) inClass = true;
            else if (c == ']' && inClass) inClass = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    private static (string Proxy, int[] Map) BuildProxy(ReadOnlySpan<char> s)
    {
        var sb = new StringBuilder(s.Length);
        var map = new int[s.Length + 1];
        var n = 0;
        for (var i = 0; i < s.Length;)
        {
            var cp = CharClass.CodePointAt(s, i, out var w);
            map[n++] = i;
            sb.Append(w == 2 ? Representative(CharUnicodeInfo.GetUnicodeCategory(cp)) : s[i]);
            i += w;
        }
        map[n] = s.Length;
        return (sb.ToString(), map);
    }

    /// <summary>A BMP char of the given general category, not used as a literal by common patterns.</summary>
    private static char Representative(UnicodeCategory cat) => cat switch
    {
        UnicodeCategory.UppercaseLetter => '\u00C0',
        UnicodeCategory.LowercaseLetter => '\u00DF',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u00AA',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u0488',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00B7',
        UnicodeCategory.MathSymbol => '\u00D7',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u00B4',
        UnicodeCategory.OtherSymbol => '\u00A6',
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378', // unassigned
    };
}
