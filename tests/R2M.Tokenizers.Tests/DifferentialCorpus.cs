using System.Text;

namespace R2M.Tokenizers.Tests;

/// <summary>
/// Deterministic strings for the differential tests: mixed scripts, astral letters and digits,
/// emoji with ZWJ and skin tones, whitespace runs, digits, code, special-token text, contractions,
/// combining sequences (for NFC), the empty string and very long words. Characters come from
/// long-assigned blocks so that the Unicode versions of .NET and node agree on their categories.
/// </summary>
internal static class DifferentialCorpus
{
    private static readonly string[] s_fragments =
    [
        "Hello", "world", "It's", "don't", "WE'LL", "I'M", "they're", "You've", "she'd", "O'Neil", "'s", "'S", "'ll",
        "'Re", "'t", "'", "''", "café", "naïve", "Zürich", "e\u0301", "A\u030A", "n\u0303o", "Å", "ﬁ", "Ǆ",
        "中文字符", "日本語のテキスト", "カタカナ", "漢字かな交じり文", "繁體中文", "مرحبا بالعالم", "السلام",
        "नमस्ते दुनिया", "क़ख़", "क\u093C", "안녕하세요", "\u1112\u1161\u11AB", "한국어", "Привет мир", "Ελληνικά",
        "ภาษาไทย", "שלום", "😀", "👍🏽", "👨\u200D👩\u200D👧\u200D👦", "🏳️\u200D🌈", "❤️", "🇺🇸", "🇯🇵", "🧑🏿\u200D💻", "✨",
        "𝐀𝐁𝐂", "𝑥𝑦", "𝟎𝟏𝟐", "𠀀𠀁", "𐌰𐌱", "𐐷", "𝔘𝔫𝔦", "   ", "\t\t", "\r\n", "\n\n\n", " \n ", "\u00A0", "\u3000",
        "\u2003", "\u0085", "\uFEFF", "\u200B", "\u2028", "\v\f", "1234567", "3.14159", "42", "١٢٣", "²³", "Ⅻ", "0x1F",
        "1,000,000", "def f(x):\n    return x**2", "for (int i = 0; i < n; i++) {", "<div class=\"a\">", "std::vector<int>",
        "{\"key\": [1, 2]}", "SELECT * FROM t;", "a->b", "x += 1;", "#include <stdio.h>", "<|begin_of_text|>",
        "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>",
        "<|reserved_special_token_5|>", "<|im_sta", "<|begin_of_text|", "<|eot_id|>", "...", "!!!", "—", "«»", "¿Qué?",
        "it'\u017F", "x'\u017Fx", "'\u212A", "'\uFB06", "'\u0130", "WE'\u13DE\u13DE", "@user", "#tag", "http://example.com/a?b=c", "$100", "50%", "C++", "__init__", "ALLCAPS", "MiXeD",
    ];

    private static readonly (int Lo, int Hi)[] s_ranges =
    [
        (0x20, 0x7E), (0xA0, 0x17F), (0x300, 0x36F), (0x391, 0x3C9), (0x410, 0x44F), (0x5D0, 0x5EA), (0x621, 0x64A),
        (0x660, 0x669), (0x900, 0x97F), (0xE01, 0xE3A), (0x1100, 0x1112), (0x1161, 0x1175), (0x11A8, 0x11C2),
        (0x2000, 0x206F), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x9FA5), (0xAC00, 0xD7A3), (0xFF01, 0xFF5E),
        (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F3FB, 0x1F3FF), (0x1D400, 0x1D4FF), (0x1D7CE, 0x1D7FF),
        (0x20000, 0x2A6D6), (0x10330, 0x1034A),
    ];

    private static readonly string[] s_separators = [" ", "", "\n", "\t", "  ", " \n", "\r\n", ", ", "\n\n", "\u3000"];

    /// <summary>At least <paramref name="count"/> well-formed strings (no lone surrogates).</summary>
    public static List<string> Build(int count, int seed = 20260122)
    {
        var rng = new Random(seed);
        var list = new List<string> { "", " ", "\n", "a", "'", "'s", "😀", "<|im_start|>", "<|begin_of_text|>" };
        list.AddRange(LongWords());
        while (list.Count < count)
        {
            list.Add((list.Count % 4) switch
            {
                0 => Fragments(rng),
                1 => RandomCodePoints(rng, rng.Next(1, 40)),
                2 => Interleaved(rng),
                _ => Fragments(rng) + RandomCodePoints(rng, rng.Next(1, 8)) + Fragments(rng),
            });
        }
        return list;
    }

    /// <summary>Every Unicode White_Space code point, and the look-alikes that are not whitespace.</summary>
    public static readonly int[] WhitespaceAndLookAlikes =
    [
        0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006,
        0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
        0xFEFF, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x1C, 0x1D, 0x1E, 0x1F,
    ];

    /// <summary>
    /// Strings built around each code point of <see cref="WhitespaceAndLookAlikes"/>: alone, repeated,
    /// between words, digits and punctuation, before and after CR/LF, after a contraction quote,
    /// and before code (Llama-3's vocabulary has tokens such as "\uFEFF//").
    /// </summary>
    public static List<string> AroundWhitespace()
    {
        string[] patterns =
        [
            "{0}", "{0}{0}", "{0}{0}{0}", "a{0}b", "a {0} b", "a{0} b", "a {0}b", "{0}a", "a{0}", " {0}", "{0} ", "{0}\n",
            "\n{0}", "\r\n{0}\r\n", "{0}{0}x", "x{0}{0}", "1{0}2", "123{0}4567", "!{0}?", "'{0}s", "it{0}'s", "{0}//",
            "{0}// comment", "{0}{{", "({0})", "{0}😀", "😀{0}", "中{0}文", "{0}\t{0}", "Hello{0}world{0}", "{0}<|im_start|>",
            "<|begin_of_text|>{0}", "{0}\u00A0{0}", " {0} {0} ", "def f():{0}\n{0}{0}return",
        ];
        var result = new List<string>();
        foreach (var cp in WhitespaceAndLookAlikes)
        {
            var c = char.ConvertFromUtf32(cp);
            foreach (var p in patterns) result.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, p, c));
        }
        return result;
    }

    /// <summary>Strings holding unpaired surrogates (encoded as U+FFFD by both implementations).</summary>
    public static List<string> WithLoneSurrogates() =>
    [
        "\uD800", "\uDC00", "a\uD83Db", "abc\uDE00def", "\uDE00\uD83D", "x \uD800 y", "<|im_start|>\uDBFF", "'\uD800s",
        "😀\uD83D", "\uD83D😀", "12\uDFFF34",
    ];

    private static IEnumerable<string> LongWords()
    {
        var rng = new Random(7);
        yield return new string('a', 12_000);
        yield return new string(Enumerable.Range(0, 10_500).Select(_ => (char)rng.Next('a', 'z' + 1)).ToArray());
        yield return new string(Enumerable.Range(0, 10_200).Select(_ => (char)rng.Next('0', '9' + 1)).ToArray());
        yield return new string(' ', 10_001) + "x";
        yield return string.Concat(Enumerable.Repeat("😀", 5_000));
        yield return string.Concat(Enumerable.Repeat("👍🏽", 3_000));
        yield return new string(Enumerable.Range(0, 10_000).Select(_ => (char)rng.Next(0x4E00, 0x9FA6)).ToArray());
        yield return string.Concat(Enumerable.Repeat("ab", 6_000)) + "!" + new string('\n', 10_000);
        yield return string.Concat(Enumerable.Range(0, 11_000).Select(i => "abcxyzé"[i % 7]));
    }

    private static string Fragments(Random rng)
    {
        var sb = new StringBuilder();
        var n = rng.Next(1, 13);
        for (var i = 0; i < n; i++)
        {
            if (i > 0) sb.Append(s_separators[rng.Next(s_separators.Length)]);
            sb.Append(s_fragments[rng.Next(s_fragments.Length)]);
        }
        return sb.ToString();
    }

    private static string RandomCodePoints(Random rng, int n)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < n; i++)
        {
            var (lo, hi) = s_ranges[rng.Next(s_ranges.Length)];
            sb.Append(char.ConvertFromUtf32(rng.Next(lo, hi + 1)));
        }
        return sb.ToString();
    }

    // Fragments chopped into code points and shuffled together: odd neighbours such as "a😀b" or "'𝐬".
    private static string Interleaved(Random rng)
    {
        var pool = Fragments(rng) + RandomCodePoints(rng, 6);
        var cps = new List<string>();
        for (var i = 0; i < pool.Length; i += char.IsSurrogatePair(pool, i) ? 2 : 1)
        {
            cps.Add(pool.Substring(i, char.IsSurrogatePair(pool, i) ? 2 : 1));
        }
        var sb = new StringBuilder();
        for (var i = 0; i < cps.Count; i++) sb.Append(cps[rng.Next(cps.Count)]);
        return sb.ToString();
    }
}
