using System.Text;
using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>Settings of a <c>"model": {"type": "BPE"}</c> block (docs/specs.md section 4).</summary>
internal sealed record BpeOptions(
    string? UnkToken, bool FuseUnk, bool ByteFallback, bool IgnoreMerges,
    string? ContinuingSubwordPrefix, string? EndOfWordSuffix);

/// <summary>
/// The BPE model: vocabulary, merge table keyed by id pairs, and the per-piece encoder. In
/// byte-level mode a piece is encoded from its UTF-8 bytes (each byte's GPT-2 char is a vocab
/// token), never building the byte-level string; results are cached by the piece's text.
/// </summary>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly BpeMerger _merger;
    private readonly BpeOptions _options;
    private readonly int _unkId = -1;
    private readonly int[] _byteToId = new int[256];
    private readonly int[] _byteFallbackIds = new int[256];
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _textVocab;
    private readonly BpeCache _cache = new();

    public BpeModel(Dictionary<string, int> vocab, List<(string A, string B)> merges, BpeOptions options)
    {
        _vocab = vocab;
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
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

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
            // A pair listed twice keeps its first (lowest) rank, as a Rust HashMap built in order would not;
            // both references keep the first occurrence's priority in practice.
            table.TryAdd(((long)ia << 32) | (uint)ib, ((long)rank << 32) | (uint)im);
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
        if (_cache.TryGet(piece, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var n = byteLevel ? InitialBytes(piece, scratch) : InitialChars(piece, scratch);
        n = _merger.Merge(scratch.Symbols, n, scratch.Merge);
        var before = output.Count;
        EmitSymbols(scratch.Symbols, n, output);
        _cache.TryAdd(piece, output, before);
    }

    private bool TryWholePiece(ReadOnlySpan<char> piece, bool byteLevel, out int id)
    {
        if (byteLevel) return _textVocab.TryGetValue(piece, out id);
        return _vocab.TryGetValue(piece.ToString(), out id);
    }

    private int InitialBytes(ReadOnlySpan<char> piece, EncodeScratch scratch)
    {
        var bytes = scratch.Bytes(Encoding.UTF8.GetMaxByteCount(piece.Length));
        var n = Encoding.UTF8.GetBytes(piece, bytes);
        var sym = scratch.SymbolBuffer(n);
        for (var i = 0; i < n; i++)
        {
            var id = _byteToId[bytes[i]];
            sym[i] = id >= 0 ? id : -(ByteLevelTable.ByteToChar[bytes[i]] + 1);
        }
        if (_options.EndOfWordSuffix is { } suffix)
        {
            var last = ByteLevelTable.ByteToChar[bytes[n - 1]] + suffix;
            sym[n - 1] = _vocab.TryGetValue(last, out var id) ? id : sym[n - 1];
        }
        return n;
    }

    // Non-byte-level: one symbol per code point, with continuing_subword_prefix on all but the
    // first and end_of_word_suffix on the last (models/bpe/model.rs merge_word).
    private int InitialChars(ReadOnlySpan<char> piece, EncodeScratch scratch)
    {
        var sym = scratch.SymbolBuffer(piece.Length);
        var n = 0;
        for (var i = 0; i < piece.Length;)
        {
            var cp = CharClass.CodePointAt(piece, i, out var w);
            var s = piece.Slice(i, w).ToString();
            if (n > 0 && _options.ContinuingSubwordPrefix is { } prefix) s = prefix + s;
            if (i + w == piece.Length && _options.EndOfWordSuffix is { } suffix) s += suffix;
            sym[n++] = _vocab.TryGetValue(s, out var id) ? id : -(cp + 1);
            i += w;
        }
        return n;
    }

    // Unknown symbols (negative) become <0xHH> byte tokens when byte_fallback and all of them
    // exist, else unk_token (consecutive ones fused when fuse_unk), else they are dropped.
    private void EmitSymbols(int[] sym, int n, List<int> output)
    {
        var lastWasUnk = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < n; i++)
        {
            if (sym[i] >= 0)
            {
                output.Add(sym[i]);
                lastWasUnk = false;
                continue;
            }
            var cp = -sym[i] - 1;
            if (_options.ByteFallback && TryByteFallback(cp, utf8, output))
            {
                lastWasUnk = false;
                continue;
            }
            if (_unkId < 0 || (_options.FuseUnk && lastWasUnk)) continue;
            output.Add(_unkId);
            lastWasUnk = true;
        }
    }

    private bool TryByteFallback(int cp, Span<byte> utf8, List<int> output)
    {
        var len = new Rune(cp).EncodeToUtf8(utf8);
        for (var k = 0; k < len; k++)
        {
            if (_byteFallbackIds[utf8[k]] < 0) return false;
        }
        for (var k = 0; k < len; k++) output.Add(_byteFallbackIds[utf8[k]]);
        return true;
    }
}
