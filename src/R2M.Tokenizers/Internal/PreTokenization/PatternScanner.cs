namespace R2M.Tokenizers.Internal.PreTokenization;

/// <summary>
/// Hand-written matchers equivalent to the well-known byte-level split regexes, used instead of a
/// regex engine for speed and for exact astral-plane semantics. Each alternative is tried in the
/// order the pattern lists them, with the backtracking outcome worked out by hand (comments).
/// Every code point is covered by some alternative of these patterns, so a match always starts at
/// the current position and the text splits into consecutive matches.
/// </summary>
internal sealed class PatternScanner : IMatchFinder
{
    /// <summary>GPT-2 / GPT-NeoX (ByteLevel use_regex=true), pre_tokenizers/byte_level.rs.</summary>
    public const string Gpt2Pattern =
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3 split pattern (tiktoken's cl100k_base pattern).</summary>
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2 / Qwen3 split pattern: Llama-3's with single digits.</summary>
    public const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly bool _gpt2;
    private readonly int _maxDigits;

    private PatternScanner(bool gpt2, int maxDigits)
    {
        _gpt2 = gpt2;
        _maxDigits = maxDigits;
    }

    public static PatternScanner Gpt2 { get; } = new(true, int.MaxValue);

    /// <summary>The scanner for a known pattern, or null when the pattern must go to a regex engine.</summary>
    public static PatternScanner? ForPattern(string pattern) => pattern switch
    {
        Gpt2Pattern => Gpt2,
        Llama3Pattern => new PatternScanner(false, 3),
        Qwen2Pattern => new PatternScanner(false, 1),
        _ => null,
    };

    /// <summary>Appends (start, length) of every match in <paramref name="s"/>, offset by <paramref name="baseIndex"/>.</summary>
    public void FindMatches(ReadOnlySpan<char> s, int baseIndex, List<(int Start, int Length)> output)
    {
        var i = 0;
        while (i < s.Length)
        {
            var len = _gpt2 ? MatchGpt2(s, i) : MatchLlama3(s, i);
            output.Add((baseIndex + i, len));
            i += len;
        }
    }

    private int MatchLlama3(ReadOnlySpan<char> s, int i)
    {
        var cp = CharClass.CodePointAt(s, i, out var w);
        var cls = CharClass.Of(cp);
        // (?i:'s|'t|'re|'ve|'m|'ll|'d) with ASCII case folding only: HuggingFace does not match
        // U+017F or U+212A here either (the differential corpus holds "it'\u017F" and "'\u212A").
        if (cp == '\'' && Contraction(s, i + 1, ignoreCase: true) is var c && c > 0)
        {
            return 1 + c;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+ : an optional non-letter/digit/CR/LF prefix, then letters.
        if ((cls & CharClass.Letter) != 0)
        {
            return SkipClass(s, i, CharClass.Letter) - i;
        }
        if (cp != '\r' && cp != '\n' && (cls & CharClass.Number) == 0 && i + w < s.Length
            && (ClassAt(s, i + w) & CharClass.Letter) != 0)
        {
            return SkipClass(s, i + w, CharClass.Letter) - i;
        }
        // \p{N}{1,3} (Qwen2: \p{N})
        if ((cls & CharClass.Number) != 0)
        {
            var end = i;
            for (var n = 0; n < _maxDigits && end < s.Length && (ClassAt(s, end, out var dw) & CharClass.Number) != 0; n++)
            {
                end += dw;
            }
            return end - i;
        }
        //  ?[^\s\p{L}\p{N}]+[\r\n]*
        var other = OtherStart(s, i, cp, cls, w);
        if (other >= 0)
        {
            var end = SkipOther(s, other);
            while (end < s.Length && s[end] is '\r' or '\n') end++;
            return end - i;
        }
        return Whitespace(s, i, crlfAlternative: true);
    }

    private int MatchGpt2(ReadOnlySpan<char> s, int i)
    {
        var cp = CharClass.CodePointAt(s, i, out var w);
        var cls = CharClass.Of(cp);
        if (cp == '\'' && Contraction(s, i + 1, ignoreCase: false) is var c && c > 0)
        {
            return 1 + c;
        }
        // " ?\p{L}+" and " ?\p{N}+": the optional space binds only when a run of that class follows.
        var start = i;
        var headClass = cls;
        if (cp == ' ' && i + 1 < s.Length)
        {
            headClass = ClassAt(s, i + 1);
            start = i + 1;
        }
        if ((headClass & CharClass.Letter) != 0) return SkipClass(s, start, CharClass.Letter) - i;
        if ((headClass & CharClass.Number) != 0) return SkipClass(s, start, CharClass.Number) - i;
        var other = OtherStart(s, i, cp, cls, w);
        if (other >= 0) return SkipOther(s, other) - i;
        return Whitespace(s, i, crlfAlternative: false);
    }

    /// <summary>
    /// Start of the " ?[^\s\p{L}\p{N}]+" run at i: i itself when the code point there is "other",
    /// i+1 when it is a space followed by an "other", else -1.
    /// </summary>
    private static int OtherStart(ReadOnlySpan<char> s, int i, int cp, byte cls, int w)
    {
        if (cls == 0) return i;
        if (cp == ' ' && i + 1 < s.Length && ClassAt(s, i + 1) == 0) return i + 1;
        return -1;
    }

    /// <summary>
    /// Whitespace alternatives at i (a whitespace char). Llama-3 first tries \s*[\r\n]+: greedy \s*
    /// backtracks to the last CR/LF of the run, so the match ends just after it. Then \s+(?!\S):
    /// the whole run at end of text, else the run minus its last char (which then precedes the
    /// next word), unless that leaves nothing; finally \s+ (a single whitespace char).
    /// </summary>
    private static int Whitespace(ReadOnlySpan<char> s, int i, bool crlfAlternative)
    {
        var end = i;
        var lastCrLf = -1;
        var lastWidth = 1;
        while (end < s.Length)
        {
            var cp = CharClass.CodePointAt(s, end, out var w);
            if ((CharClass.Of(cp) & CharClass.Space) == 0) break;
            if (cp is '\r' or '\n') lastCrLf = end;
            lastWidth = w;
            end += w;
        }
        if (crlfAlternative && lastCrLf >= 0) return lastCrLf + 1 - i;
        if (end == s.Length) return end - i;
        return end - lastWidth > i ? end - lastWidth - i : end - i;
    }

    private static int Contraction(ReadOnlySpan<char> s, int j, bool ignoreCase)
    {
        if (j >= s.Length) return 0;
        var a = Fold(s[j], ignoreCase);
        var b = j + 1 < s.Length ? Fold(s[j + 1], ignoreCase) : '\0';
        return a switch
        {
            's' or 't' or 'm' or 'd' => 1,
            'r' or 'v' when b == 'e' => 2,
            'l' when b == 'l' => 2,
            _ => 0,
        };
    }

    private static char Fold(char c, bool ignoreCase) => ignoreCase && c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;

    private static byte ClassAt(ReadOnlySpan<char> s, int i) => CharClass.Of(CharClass.CodePointAt(s, i, out _));

    private static byte ClassAt(ReadOnlySpan<char> s, int i, out int width) =>
        CharClass.Of(CharClass.CodePointAt(s, i, out width));

    private static int SkipClass(ReadOnlySpan<char> s, int i, byte mask)
    {
        while (i < s.Length)
        {
            var c = s[i];
            if (c < 0x80)
            {
                if ((CharClass.Of(c) & mask) == 0) return i;
                i++;
                continue;
            }
            if ((ClassAt(s, i, out var w) & mask) == 0) return i;
            i += w;
        }
        return i;
    }

    private static int SkipOther(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length && ClassAt(s, i, out var w) == 0) i += w;
        return i;
    }
}
