using System.Buffers;

namespace R2M.Tokenizers.Internal;

/// <summary>One entry of <c>added_tokens</c> (docs/specs.md section 4).</summary>
internal sealed record AddedTokenSpec(int Id, string Content, bool SingleWord, bool LStrip, bool RStrip, bool Normalized, bool Special);

/// <summary>A run of text [Start, Start+Length): plain text when <see cref="TokenId"/> is -1, else one added token.</summary>
internal readonly record struct Segment(int Start, int Length, int TokenId);

/// <summary>
/// Splits added tokens out of text before the normalizer / pre-tokenizer / model see it:
/// leftmost-longest over a char trie (huggingface/tokenizers added_vocabulary.rs uses an
/// Aho-Corasick LeftmostLongest automaton; transformers.js a trie walk: same result).
/// <c>single_word</c> rejects a match touching a word char; <c>lstrip</c>/<c>rstrip</c> absorb the
/// whitespace beside the match.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Node _root = new();
    private readonly SearchValues<char>? _firstChars;

    public AddedTokenMatcher(IEnumerable<AddedTokenSpec> tokens)
    {
        var first = new HashSet<char>();
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            var node = _root;
            foreach (var c in t.Content)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            node.Token ??= t;
            first.Add(t.Content[0]);
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
            if (match is null || (match.SingleWord && TouchesWord(text, i, i + match.Content.Length, start, end)))
            {
                i++;
                continue;
            }
            var mStart = i;
            var mEnd = i + match.Content.Length;
            if (match.LStrip) while (mStart > textStart && char.IsWhiteSpace(text[mStart - 1])) mStart--;
            if (match.RStrip) while (mEnd < end && char.IsWhiteSpace(text[mEnd])) mEnd++;
            if (mStart > textStart) output.Add(new Segment(textStart, mStart - textStart, -1));
            output.Add(new Segment(mStart, mEnd - mStart, match.Id));
            i = textStart = mEnd;
        }
        if (end > textStart) output.Add(new Segment(textStart, end - textStart, -1));
    }

    private AddedTokenSpec? LongestAt(string text, int i, int end)
    {
        AddedTokenSpec? best = null;
        var node = _root;
        for (var j = i; j < end && node.Children != null && node.Children.TryGetValue(text[j], out node); j++)
        {
            if (node.Token != null) best = node.Token;
        }
        return best;
    }

    private static bool TouchesWord(string text, int s, int e, int lo, int hi) =>
        (s > lo && IsWordChar(text[s - 1])) || (e < hi && IsWordChar(text[e]));

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedTokenSpec? Token;
    }
}
