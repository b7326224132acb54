using System.Buffers;
using System.Globalization;
using System.Text;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal;

/// <summary>One entry of <c>added_tokens</c>.</summary>
internal sealed record AddedTokenSpec(int Id, string Content, bool SingleWord, bool LStrip, bool RStrip, bool Normalized, bool Special);

/// <summary>A run of text [Start, Start+Length): plain text when <see cref="TokenId"/> is -1, else one added token.</summary>
internal readonly record struct Segment(int Start, int Length, int TokenId);

/// <summary>
/// Splits added tokens out of text before the normalizer / pre-tokenizer / model see it, as
/// huggingface/tokenizers added_vocabulary.rs does: leftmost-longest, non-overlapping matches
/// (an Aho-Corasick LeftmostLongest search there, a char trie here: same matches). A
/// <c>single_word</c> token touching a word char (regex <c>\w</c>) is dropped and the search goes on
/// after it; <c>lstrip</c>/<c>rstrip</c> absorb the Unicode White_Space beside the match (never
/// text an earlier match took). Tokens with <c>normalized: true</c> are matched, in normalized
/// text, by their content passed through the normalizer.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Node _root = new();
    private readonly SearchValues<char>? _firstChars;

    public AddedTokenMatcher(IEnumerable<AddedTokenSpec> tokens, Normalizer? normalizer)
    {
        var first = new HashSet<char>();
        foreach (var t in tokens)
        {
            var pattern = normalizer is null ? t.Content : normalizer.Normalize(t.Content);
            if (t.Content.Length == 0 || pattern.Length == 0) continue;
            var node = _root;
            foreach (var c in pattern)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Token ??= t;
            node.Length = pattern.Length;
            first.Add(pattern[0]);
        }
        _firstChars = first.Count > 0 ? SearchValues.Create(first.ToArray()) : null;
    }

    /// <summary>Splits <paramref name="text"/>[start..start+length) into segments appended to <paramref name="output"/>.</summary>
    public void Split(string text, int start, int length, List<Segment> output)
    {
        var end = start + length;
        var textStart = start;
        var i = start;
        while (_firstChars != null && i < end)
        {
            var k = text.AsSpan(i, end - i).IndexOfAny(_firstChars);
            if (k < 0) break;
            i += k;
            var match = LongestAt(text, i, end);
            if (match is null)
            {
                i++;
                continue;
            }
            var (token, matchLength) = match.Value;
            var mStart = i;
            var mEnd = i + matchLength;
            if (token.SingleWord && (EndsWithWord(text, start, mStart) || StartsWithWord(text, mEnd, end)))
            {
                // Discarded, but the search resumes after it (find_iter is non-overlapping).
                i = mEnd;
                continue;
            }
            if (token.LStrip) while (mStart > textStart && CharClass.IsWhiteSpace(text[mStart - 1])) mStart--;
            if (token.RStrip) while (mEnd < end && CharClass.IsWhiteSpace(text[mEnd])) mEnd++;
            if (mStart > textStart) output.Add(new Segment(textStart, mStart - textStart, -1));
            output.Add(new Segment(mStart, mEnd - mStart, token.Id));
            i = textStart = mEnd;
        }
        if (end > textStart) output.Add(new Segment(textStart, end - textStart, -1));
    }

    private (AddedTokenSpec Token, int Length)? LongestAt(string text, int i, int end)
    {
        (AddedTokenSpec, int)? best = null;
        var node = _root;
        for (var j = i; j < end && node.Children != null && node.Children.TryGetValue(text[j], out node); j++)
        {
            if (node.Token != null) best = (node.Token, node.Length);
        }
        return best;
    }

    private static bool EndsWithWord(string text, int lo, int at) =>
        at > lo && Rune.DecodeLastFromUtf16(text.AsSpan(lo, at - lo), out var r, out _) == OperationStatus.Done && IsWordRune(r);

    private static bool StartsWithWord(string text, int at, int hi) =>
        at < hi && Rune.DecodeFromUtf16(text.AsSpan(at, hi - at), out var r, out _) == OperationStatus.Done && IsWordRune(r);

    /// <summary>
    /// The regex crate's Unicode <c>\w</c> (UTS #18 Annex C): Alphabetic, marks, decimal digits,
    /// connector punctuation and the joiners U+200C/U+200D. Alphabetic is approximated by the letter
    /// categories plus Nl (its Other_Alphabetic part is mostly marks, which count anyway).
    /// </summary>
    private static bool IsWordRune(Rune r) => r.Value is 0x200C or 0x200D || Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
        _ => false,
    };

    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedTokenSpec? Token;
        public int Length;
    }
}
