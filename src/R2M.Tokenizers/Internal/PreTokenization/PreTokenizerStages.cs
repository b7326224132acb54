namespace R2M.Tokenizers.Internal.PreTokenization;

/// <summary>A slice of <see cref="Source"/>: one pre-token on its way to the model.</summary>
internal readonly record struct Piece(string Source, int Start, int Length)
{
    public ReadOnlySpan<char> Span => Source.AsSpan(Start, Length);
}

/// <summary>How a Split pre-tokenizer treats the matched delimiters (huggingface/tokenizers SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Where the text handed to the pre-tokenizer starts: <see cref="AtOrigin"/> when that is offset 0
/// of the original input (Metaspace's <c>prepend_scheme: first</c> asks, as offsets_original().0 == 0).
/// </summary>
internal readonly record struct PieceOrigin(string Source, int Start, bool AtOrigin)
{
    public bool IsOrigin(Piece p) => AtOrigin && p.Start == Start && ReferenceEquals(p.Source, Source);
}

/// <summary>One pre-tokenizer of the chain: turns each input piece into zero or more pieces.</summary>
internal abstract class PreTokenizerStage
{
    public abstract void Apply(List<Piece> input, List<Piece> output, List<(int Start, int Length)> scratch, PieceOrigin origin);
}

/// <summary>
/// <c>Split {pattern, behavior, invert}</c>. The text is cut into alternating non-match / match
/// segments (matches flipped when <c>invert</c>), then grouped per behavior as huggingface/tokenizers
/// does (pre_tokenizers/split.rs, NormalizedString::split); empty pieces are dropped.
/// </summary>
internal sealed class SplitStage(IMatchFinder finder, SplitBehavior behavior, bool invert) : PreTokenizerStage
{
    public override void Apply(List<Piece> input, List<Piece> output, List<(int Start, int Length)> scratch, PieceOrigin origin)
    {
        foreach (var piece in input)
        {
            scratch.Clear();
            finder.FindMatches(piece.Span, piece.Start, scratch);
            var prev = piece.Start;
            var end = piece.Start + piece.Length;
            var first = output.Count;
            var lastWasMatch = false;
            foreach (var (start, length) in scratch)
            {
                if (start > prev) Emit(piece.Source, prev, start - prev, invert, output, first, ref lastWasMatch);
                if (length > 0) Emit(piece.Source, start, length, !invert, output, first, ref lastWasMatch);
                prev = start + length;
            }
            if (prev < end) Emit(piece.Source, prev, end - prev, invert, output, first, ref lastWasMatch);
            if (behavior == SplitBehavior.MergedWithNext) MergeWithNext(output, first);
        }
    }

    private void Emit(string src, int start, int length, bool isMatch, List<Piece> output, int first, ref bool lastWasMatch)
    {
        var hasPrev = output.Count > first;
        switch (behavior)
        {
            case SplitBehavior.Removed:
                if (!isMatch) output.Add(new Piece(src, start, length));
                break;
            case SplitBehavior.MergedWithPrevious when isMatch && !lastWasMatch && hasPrev:
            case SplitBehavior.Contiguous when isMatch == lastWasMatch && hasPrev:
                var last = output[^1];
                output[^1] = last with { Length = start + length - last.Start };
                break;
            case SplitBehavior.MergedWithNext:
                // Marked by a negative length here; resolved right to left in MergeWithNext.
                output.Add(new Piece(src, start, isMatch ? -length : length));
                break;
            default:
                output.Add(new Piece(src, start, length));
                break;
        }
        lastWasMatch = isMatch;
    }

    // A match joins the segment after it, unless that segment is itself a match (split.rs folds from the end).
    internal static void MergeWithNext(List<Piece> output, int first)
    {
        var segs = output.GetRange(first, output.Count - first);
        output.RemoveRange(first, output.Count - first);
        var merged = new List<Piece>(segs.Count);
        var nextWasMatch = false;
        for (var i = segs.Count - 1; i >= 0; i--)
        {
            var isMatch = segs[i].Length < 0;
            var seg = segs[i] with { Length = Math.Abs(segs[i].Length) };
            if (isMatch && !nextWasMatch && merged.Count > 0)
            {
                var next = merged[^1];
                merged[^1] = next with { Start = seg.Start, Length = next.Start + next.Length - seg.Start };
            }
            else
            {
                merged.Add(seg);
            }
            nextWasMatch = isMatch;
        }
        merged.Reverse();
        output.AddRange(merged);
    }
}

/// <summary>
/// <c>ByteLevel {add_prefix_space, use_regex}</c>: optionally prepends a space to each piece that
/// does not start with one, optionally splits with the GPT-2 pattern; the byte-to-char mapping
/// itself happens in the model, which works on UTF-8 bytes directly.
/// </summary>
internal sealed class ByteLevelStage(bool addPrefixSpace, bool useRegex) : PreTokenizerStage
{
    public override void Apply(List<Piece> input, List<Piece> output, List<(int Start, int Length)> scratch, PieceOrigin origin)
    {
        foreach (var p in input)
        {
            var piece = p;
            if (addPrefixSpace && (piece.Length == 0 || piece.Source[piece.Start] != ' '))
            {
                piece = new Piece(" " + piece.Span.ToString(), 0, piece.Length + 1);
            }
            if (!useRegex)
            {
                output.Add(piece);
                continue;
            }
            scratch.Clear();
            PatternScanner.Gpt2.FindMatches(piece.Span, piece.Start, scratch);
            foreach (var (start, length) in scratch) output.Add(new Piece(piece.Source, start, length));
        }
    }
}

/// <summary>
/// <c>Metaspace {replacement, prepend_scheme, split}</c> (pre_tokenizers/metaspace.rs): spaces become
/// the replacement char, which is prepended to a piece not starting with it (scheme always; first:
/// only to the piece at offset 0 of the input; never), and with split the piece is cut before
/// every replacement char (MergedWithNext).
/// </summary>
internal sealed class MetaspaceStage(char replacement, MetaspaceStage.Scheme scheme, bool split) : PreTokenizerStage
{
    public enum Scheme { Always, First, Never }

    public override void Apply(List<Piece> input, List<Piece> output, List<(int Start, int Length)> scratch, PieceOrigin origin)
    {
        foreach (var p in input)
        {
            var text = p.Span.ToString().Replace(' ', replacement);
            var prepend = scheme == Scheme.Always || (scheme == Scheme.First && origin.IsOrigin(p));
            if (prepend && text.Length > 0 && text[0] != replacement) text = replacement + text;
            if (!split)
            {
                output.Add(new Piece(text, 0, text.Length));
                continue;
            }
            var first = output.Count;
            var prev = 0;
            for (var i = 0; i <= text.Length; i++)
            {
                if (i < text.Length && text[i] != replacement) continue;
                if (i > prev) output.Add(new Piece(text, prev, i - prev));
                if (i < text.Length) output.Add(new Piece(text, i, -1));
                prev = i + 1;
            }
            SplitStage.MergeWithNext(output, first);
        }
    }
}

/// <summary>The whole pre-tokenizer chain (a <c>Sequence</c> is flattened into its stages).</summary>
internal sealed class PreTokenizerPipeline(PreTokenizerStage[] stages, bool byteLevel)
{
    public bool ByteLevel { get; } = byteLevel;

    public static PreTokenizerPipeline None { get; } = new([], false);

    /// <summary>Splits <paramref name="text"/> into pieces; the result is <paramref name="a"/> or <paramref name="b"/>.</summary>
    public List<Piece> Run(string text, int start, int length, bool atOrigin, List<Piece> a, List<Piece> b,
        List<(int Start, int Length)> scratch)
    {
        a.Clear();
        a.Add(new Piece(text, start, length));
        var origin = new PieceOrigin(text, start, atOrigin);
        foreach (var stage in stages)
        {
            b.Clear();
            stage.Apply(a, b, scratch, origin);
            (a, b) = (b, a);
        }
        return a;
    }
}
