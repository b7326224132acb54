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
/// Cuts SentencePiece-style words (U+2581 for spaces) into chunks that BPE can merge one by one
/// with the same result as the whole word: a cut goes before every U+2581 that follows another
/// char. That is exact when no vocabulary token holds U+2581 after a different char, since every
/// merge yields a vocabulary token, so no merge ever spans a cut and merges in different chunks
/// commute. Llama-2, Mistral and Gemma vocabularies qualify (their only tokens with an inner
/// U+2581 are runs of it); HuggingFace merges the whole word, which is slower but gives the same ids.
/// </summary>
internal sealed class WordChunker
{
    public const char Boundary = '\u2581';

    private WordChunker()
    {
    }

    /// <summary>A chunker when <paramref name="vocab"/> allows exact cuts, else null.</summary>
    public static WordChunker? ForVocab(Dictionary<string, int> vocab)
    {
        if (!vocab.ContainsKey(Boundary.ToString())) return null;
        foreach (var token in vocab.Keys)
        {
            for (var i = token.IndexOf(Boundary, 1); i > 0; i = token.IndexOf(Boundary, i + 1))
            {
                if (token[i - 1] != Boundary) return null;
            }
        }
        return new WordChunker();
    }

    /// <summary>Length of the first chunk of <paramref name="word"/> (at least 1).</summary>
    public int NextChunk(ReadOnlySpan<char> word)
    {
        for (var i = 1; i < word.Length; i++)
        {
            var k = word[i..].IndexOf(Boundary);
            if (k < 0) return word.Length;
            i += k;
            if (word[i - 1] != Boundary) return i;
        }
        return word.Length;
    }
}
