namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>Id of each single-code-point vocabulary token: a flat table for the BMP, a map for the rest.</summary>
internal sealed class SymbolTable
{
    private readonly int[] _bmp = new int[0x10000];
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _astral;

    public SymbolTable(Dictionary<string, int> vocab)
    {
        Array.Fill(_bmp, -1);
        var astral = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in vocab)
        {
            if (token.Length == 1) _bmp[token[0]] = id;
            else if (token.Length == 2 && char.IsSurrogatePair(token[0], token[1])) astral[token] = id;
        }
        _astral = astral.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The id of the one-code-point token <paramref name="ch"/> (1 or 2 UTF-16 units), or -1.</summary>
    public int IdOf(ReadOnlySpan<char> ch) => ch.Length == 1 ? _bmp[ch[0]] : _astral.TryGetValue(ch, out var id) ? id : -1;
}

/// <summary>
/// Cuts SentencePiece-style words (U+2581 for spaces) into chunks that BPE merges one by one with
/// the same result as the whole word, so that each chunk can be cached. A merge always yields a
/// vocabulary token whose string is the concatenation of its symbols, so a merge can span the cut
/// between char Y and a following U+2581 only if some token holds "Y\u2581" (Y not U+2581).
/// Such Ys are collected at load (Gemma-3: only '>', from ">\u2581&lt;/"); a cut is made before each
/// U+2581 whose predecessor is not U+2581 and not one of them. A char that is no vocabulary symbol
/// stands for "&lt;0xHH&gt;" byte tokens or the unk token, so its Y is their last char.
/// HuggingFace merges the whole word, which is slower but gives the same ids.
/// </summary>
internal sealed class WordChunker
{
    public const char Boundary = '\u2581';

    private readonly HashSet<char> _unsafe;
    private readonly bool _unknownSafe;
    private readonly SymbolTable _symbols;

    private WordChunker(HashSet<char> unsafeBefore, bool unknownSafe, SymbolTable symbols)
    {
        _unsafe = unsafeBefore;
        _unknownSafe = unknownSafe;
        _symbols = symbols;
    }

    /// <summary>A chunker when U+2581 is a vocabulary symbol, else null (no exact cuts are known then).</summary>
    public static WordChunker? ForVocab(Dictionary<string, int> vocab, SymbolTable symbols, string? unkToken)
    {
        if (!vocab.ContainsKey(Boundary.ToString())) return null;
        var unsafeBefore = new HashSet<char>();
        foreach (var token in vocab.Keys)
        {
            for (var i = token.IndexOf(Boundary, 1); i > 0; i = token.IndexOf(Boundary, i + 1))
            {
                if (token[i - 1] != Boundary) unsafeBefore.Add(token[i - 1]);
            }
        }
        var unknownSafe = !unsafeBefore.Contains('>') && (string.IsNullOrEmpty(unkToken) || !unsafeBefore.Contains(unkToken[^1]));
        return new WordChunker(unsafeBefore, unknownSafe, symbols);
    }

    /// <summary>Length of the first chunk of <paramref name="word"/> (at least 1).</summary>
    public int NextChunk(ReadOnlySpan<char> word)
    {
        for (var i = 1; i < word.Length; i++)
        {
            var k = word[i..].IndexOf(Boundary);
            if (k < 0) return word.Length;
            i += k;
            if (CanCutBefore(word, i)) return i;
        }
        return word.Length;
    }

    private bool CanCutBefore(ReadOnlySpan<char> word, int i)
    {
        var y = word[i - 1];
        if (y == Boundary || _unsafe.Contains(y)) return false;
        var w = char.IsLowSurrogate(y) && i >= 2 && char.IsHighSurrogate(word[i - 2]) ? 2 : 1;
        return _unknownSafe || _symbols.IdOf(word.Slice(i - w, w)) >= 0;
    }
}
