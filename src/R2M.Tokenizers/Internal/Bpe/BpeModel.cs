using System.Text;

namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>Settings of a <c>"model": {"type": "BPE"}</c> block.</summary>
internal sealed record BpeOptions(
    string? UnkToken, bool FuseUnk, bool ByteFallback, bool IgnoreMerges,
    string? ContinuingSubwordPrefix, string? EndOfWordSuffix);

/// <summary>
/// The BPE model: vocabulary, merge table keyed by id pairs, and the per-piece encoder. In
/// byte-level mode a piece is encoded from its UTF-8 bytes (each byte's GPT-2 char is a vocab
/// token), never building the byte-level string; otherwise from its code points (SentencePiece
/// style). Results are cached per word. Initial symbols follow huggingface/tokenizers
/// models/bpe/model.rs <c>merge_word</c>: a char missing from the vocab becomes its
/// <c>&lt;0xHH&gt;</c> byte tokens (byte_fallback, when all exist), else <c>unk_token</c>
/// (consecutive ones fused when fuse_unk), else nothing; all of them then take part in the merges.
/// </summary>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly BpeMerger _merger;
    private readonly BpeOptions _options;
    private readonly int _unkId = -1;
    private readonly int[] _byteToId = new int[256];
    private readonly int[] _byteFallbackIds = new int[256];
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _textVocab;
    private readonly BpeCache _cache = new();
    private readonly SymbolTable _symbols;
    private readonly WordChunker? _chunker;

    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, BpeOptions options)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _options = options with
        {
            ContinuingSubwordPrefix = string.IsNullOrEmpty(options.ContinuingSubwordPrefix) ? null : options.ContinuingSubwordPrefix,
            EndOfWordSuffix = string.IsNullOrEmpty(options.EndOfWordSuffix) ? null : options.EndOfWordSuffix,
        };
        if (options.UnkToken is { } unk)
        {
            _unkId = vocab.TryGetValue(unk, out var id)
                ? id
                : throw new TokenizerFormatException($"model.unk_token '{unk}' is not in model.vocab");
        }
        _merger = new BpeMerger(BuildMergeTable(merges));
        for (var b = 0; b < 256; b++)
        {
            _byteToId[b] = vocab.GetValueOrDefault(ByteLevelTable.ByteToChar[b].ToString(), -1);
            _byteFallbackIds[b] = vocab.GetValueOrDefault($"<0x{b:X2}>", -1);
        }
        _textVocab = BuildTextVocab(vocab).GetAlternateLookup<ReadOnlySpan<char>>();
        _symbols = new SymbolTable(vocab);
        var plainChars = _options.ContinuingSubwordPrefix is null && _options.EndOfWordSuffix is null;
        _chunker = plainChars ? WordChunker.ForVocab(vocab, _symbols, options.UnkToken) : null;
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    // The merge map is built like a Rust HashMap collected in rank order: a pair listed twice keeps
    // its last rank (models/bpe/model.rs BpeBuilder::build).
    private Dictionary<long, long> BuildMergeTable(List<(string A, string B)> merges)
    {
        var table = new Dictionary<long, long>(merges.Count);
        var prefix = _options.ContinuingSubwordPrefix;
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (a, b) = merges[rank];
            var merged = a + (prefix != null && b.StartsWith(prefix, StringComparison.Ordinal) ? b[prefix.Length..] : b);
            var ia = Lookup(a, rank, merges[rank]);
            var ib = Lookup(b, rank, merges[rank]);
            var im = Lookup(merged, rank, merges[rank]);
            table[((long)ia << 32) | (uint)ib] = ((long)rank << 32) | (uint)im;
        }
        return table;
    }

    private int Lookup(string token, int rank, (string A, string B) merge) =>
        _vocab.TryGetValue(token, out var id)
            ? id
            : throw new TokenizerFormatException(
                $"model.merges[{rank}] (\"{merge.A}\", \"{merge.B}\") names token '{token}' which is not in model.vocab");

    // Byte-level tokens whose bytes are valid UTF-8, keyed by that text, so that ignore_merges can
    // look a piece up by its own text without building the byte-level string.
    private static Dictionary<string, int> BuildTextVocab(Dictionary<string, int> vocab)
    {
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var bytes = new List<byte>();
        foreach (var (token, id) in vocab)
        {
            bytes.Clear();
            var ok = true;
            foreach (var c in token)
            {
                var b = c < ByteLevelTable.CharToByte.Length ? ByteLevelTable.CharToByte[c] : -1;
                if (b < 0) { ok = false; break; }
                bytes.Add((byte)b);
            }
            if (!ok) continue;
            try
            {
                result.TryAdd(strict.GetString(bytes.ToArray()), id);
            }
            catch (DecoderFallbackException)
            {
                // Partial UTF-8 sequence: no piece of valid text can equal this token.
            }
        }
        return result;
    }

    /// <summary>Encodes one pre-token, appending ids to <paramref name="output"/>.</summary>
    public void Encode(ReadOnlySpan<char> piece, bool byteLevel, List<int> output, EncodeScratch scratch)
    {
        if (piece.IsEmpty) return;
        if (byteLevel && piece.Length == 1 && piece[0] < 0x80 && _options.EndOfWordSuffix is null)
        {
            var id = _byteToId[piece[0]];
            if (id >= 0)
            {
                output.Add(id);
                return;
            }
        }
        if (_options.IgnoreMerges && TryWholePiece(piece, byteLevel, out var whole))
        {
            output.Add(whole);
            return;
        }
        if (byteLevel || _chunker is null)
        {
            EncodeWord(piece, byteLevel, output, scratch);
            return;
        }
        // SentencePiece-style vocabularies: no token crosses these boundaries, so each chunk is
        // merged (and cached) on its own with the same result as the whole piece.
        var start = 0;
        while (start < piece.Length)
        {
            var len = _chunker.NextChunk(piece[start..]);
            EncodeWord(piece.Slice(start, len), false, output, scratch);
            start += len;
        }
    }

    private void EncodeWord(ReadOnlySpan<char> word, bool byteLevel, List<int> output, EncodeScratch scratch)
    {
        if (_cache.TryGet(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var unknownBefore = scratch.Unknown;
        var n = byteLevel ? InitialBytes(word, scratch) : InitialChars(word, scratch);
        n = _merger.Merge(scratch.Symbols, n, scratch.Merge);
        var before = output.Count;
        for (var i = 0; i < n; i++) output.Add(scratch.Symbols[i]);
        // Only words without unknown characters are cached, so a cache hit adds no unknowns and the
        // per-encode count (Tokenizer.Encode's unknownCharacters) stays exact.
        if (scratch.Unknown == unknownBefore) _cache.TryAdd(word, output, before);
    }

    private bool TryWholePiece(ReadOnlySpan<char> piece, bool byteLevel, out int id) =>
        byteLevel ? _textVocab.TryGetValue(piece, out id) : _vocabBySpan.TryGetValue(piece, out id);

    private int InitialBytes(ReadOnlySpan<char> piece, EncodeScratch scratch)
    {
        var bytes = scratch.Bytes(Encoding.UTF8.GetMaxByteCount(piece.Length));
        var count = Encoding.UTF8.GetBytes(piece, bytes);
        var sym = scratch.SymbolBuffer(count * 4);
        var builder = new InitialSymbols(this, sym, scratch);
        for (var i = 0; i < count; i++)
        {
            var id = _byteToId[bytes[i]];
            if (i == count - 1 && _options.EndOfWordSuffix is { } suffix)
            {
                id = _vocab.GetValueOrDefault(ByteLevelTable.ByteToChar[bytes[i]] + suffix, -1);
            }
            if (id >= 0) builder.Known(id);
            else builder.Unknown(ByteLevelTable.ByteToChar[bytes[i]]);
        }
        return builder.Finish();
    }

    // One symbol per code point, with continuing_subword_prefix on all but the first and
    // end_of_word_suffix on the last (merge_word).
    private int InitialChars(ReadOnlySpan<char> piece, EncodeScratch scratch)
    {
        var sym = scratch.SymbolBuffer(piece.Length * 4);
        var builder = new InitialSymbols(this, sym, scratch);
        var plain = _options.ContinuingSubwordPrefix is null && _options.EndOfWordSuffix is null;
        for (var i = 0; i < piece.Length;)
        {
            var w = char.IsHighSurrogate(piece[i]) && i + 1 < piece.Length && char.IsLowSurrogate(piece[i + 1]) ? 2 : 1;
            var ch = piece.Slice(i, w);
            var id = plain ? _symbols.IdOf(ch) : DecoratedId(ch, i == 0, i + w == piece.Length);
            if (id >= 0) builder.Known(id);
            else builder.Unknown(w == 2 ? char.ConvertToUtf32(ch[0], ch[1]) : ch[0]);
            i += w;
        }
        return builder.Finish();
    }

    private int DecoratedId(ReadOnlySpan<char> ch, bool first, bool last)
    {
        var s = ch.ToString();
        if (!first && _options.ContinuingSubwordPrefix is { } prefix) s = prefix + s;
        if (last && _options.EndOfWordSuffix is { } suffix) s += suffix;
        return _vocab.GetValueOrDefault(s, -1);
    }

    /// <summary>Appends initial symbols, resolving unknown chars as merge_word does.</summary>
    private ref struct InitialSymbols(BpeModel model, int[] sym, EncodeScratch scratch)
    {
        private int _n;
        private bool _unkPending;

        public void Known(int id)
        {
            FlushUnk();
            sym[_n++] = id;
        }

        public void Unknown(int cp)
        {
            if (model._options.ByteFallback && TryBytes(cp)) return;   // a pending unk stays pending, as upstream
            scratch.Unknown++;
            if (model._unkId < 0) return;
            if (_unkPending && !model._options.FuseUnk) sym[_n++] = model._unkId;
            _unkPending = true;
        }

        public int Finish()
        {
            FlushUnk();
            return _n;
        }

        private void FlushUnk()
        {
            if (!_unkPending) return;
            sym[_n++] = model._unkId;
            _unkPending = false;
        }

        private bool TryBytes(int cp)
        {
            Span<byte> utf8 = stackalloc byte[4];
            var len = new Rune(cp).EncodeToUtf8(utf8);
            for (var k = 0; k < len; k++)
            {
                if (model._byteFallbackIds[utf8[k]] < 0) return false;
            }
            for (var k = 0; k < len; k++) sym[_n++] = model._byteFallbackIds[utf8[k]];
            return true;
        }
    }
}
