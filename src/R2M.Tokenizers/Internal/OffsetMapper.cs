using System.Text;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal;

/// <summary>Maps the byte ranges of a piece's byte-level tokens back to character ranges of the input.</summary>
internal static class OffsetMapper
{
    /// <summary>
    /// Adds one (start, end) per id in ids[from..]; false (nothing added) when the tokens' byte
    /// lengths do not add up to the piece's UTF-8 length (unknown or byte-fallback tokens).
    /// </summary>
    public static bool TryAddByteLevel(Piece piece, List<int> ids, int from, TokenDecoder decoder, List<(int, int)> offsets)
    {
        var span = piece.Span;
        var total = 0;
        for (var i = from; i < ids.Count; i++)
        {
            var len = decoder.ByteLength(ids[i]);
            if (len < 0) return false;
            total += len;
        }
        if (total != Encoding.UTF8.GetByteCount(span)) return false;
        var ci = 0; // char index of the current code point within the piece
        var cb = 0; // its byte offset
        var byteCursor = 0;
        for (var i = from; i < ids.Count; i++)
        {
            var bs = byteCursor;
            var be = bs + decoder.ByteLength(ids[i]);
            byteCursor = be;
            while (ci < span.Length && cb + Utf8Length(span, ci, out var w) <= bs)
            {
                cb += Utf8Length(span, ci, out _);
                ci += w;
            }
            var ce = ci;
            var cbe = cb;
            while (ce < span.Length && cbe < be)
            {
                cbe += Utf8Length(span, ce, out var w);
                ce += w;
            }
            offsets.Add((piece.Start + ci, piece.Start + ce));
        }
        return true;
    }

    private static int Utf8Length(ReadOnlySpan<char> s, int i, out int width)
    {
        var cp = CharClass.CodePointAt(s, i, out width);
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
}
