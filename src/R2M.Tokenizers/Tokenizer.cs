using System.Text;
using R2M.Tokenizers.Internal;
using R2M.Tokenizers.Internal.Bpe;

namespace R2M.Tokenizers;

/// <summary>
/// A HuggingFace <c>tokenizer.json</c> tokenizer with a BPE model: byte-level (GPT-2/NeoX, Llama-3,
/// Qwen2/3, DeepSeek-V3) or SentencePiece-style with byte fallback (Llama-2, Mistral, Gemma).
/// Pipeline, as huggingface/tokenizers runs it: split out added tokens -> normalizer -> pre-tokenizer
/// -> BPE per piece -> post-processor; decoding runs the decoder chain. Thread-safe: one instance
/// serves concurrent callers. Text containing unpaired UTF-16 surrogates is encoded as if each were
/// U+FFFD (HuggingFace cannot take them at all: its strings are UTF-8), so Decode(Encode(s))
/// returns s with them replaced.
/// </summary>
public sealed class Tokenizer
{
    /// <summary>Largest token id accepted from a file (bounds the id tables).</summary>
    public const int MaxTokenId = (1 << 24) - 1;

    private readonly TokenizerParts _parts;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher? _normalizedMatcher;
    private readonly TokenDecoder _decoder;
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);

    private Tokenizer(TokenizerParts parts)
    {
        _parts = parts;
        // Added tokens with normalized=false match the raw text; with a normalizer, the others
        // match the normalized text (added_vocabulary.rs). Without one the two sets coincide.
        var raw = parts.AddedTokens.Where(t => !t.Normalized || parts.Normalizer is null).ToList();
        var normalized = parts.AddedTokens.Where(t => t.Normalized && parts.Normalizer is not null).ToList();
        _rawMatcher = new AddedTokenMatcher(raw, null);
        _normalizedMatcher = normalized.Count > 0 ? new AddedTokenMatcher(normalized, parts.Normalizer) : null;
        foreach (var t in parts.AddedTokens) _addedByContent.TryAdd(t.Content, t.Id);
        _decoder = new TokenDecoder(parts.Vocab, parts.AddedTokens, parts.Decoder);
        SpecialTokenIds = parts.AddedTokens.Where(t => t.Special).Select(t => t.Id).Distinct().Order().ToArray();
    }

    /// <summary>One more than the largest id of the vocabulary and the added tokens.</summary>
    public int VocabSize => _decoder.Size;

    /// <summary>Ids of added tokens marked special (skipped by <see cref="Decode"/> on request).</summary>
    public IReadOnlyList<int> SpecialTokenIds { get; }

    /// <summary>Loads a tokenizer.json file.</summary>
    /// <exception cref="TokenizerFormatException">The file is not a valid or supported tokenizer.json.</exception>
    public static Tokenizer FromFile(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerFormatException($"{path}: cannot read: {e.Message}", e);
        }
        return new Tokenizer(TokenizerJsonReader.Read(json, path));
    }

    /// <summary>Loads a tokenizer from the text of a tokenizer.json.</summary>
    /// <exception cref="TokenizerFormatException">The JSON is not a valid or supported tokenizer.json.</exception>
    public static Tokenizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return new Tokenizer(TokenizerJsonReader.Read(json, "tokenizer.json"));
    }

    /// <summary>Test hook: like <see cref="FromJson(string)"/> but every Split regex goes through the generic engine.</summary>
    internal static Tokenizer FromJsonWithGenericRegex(string json) =>
        new(TokenizerJsonReader.Read(json, "tokenizer.json", forceGenericRegex: true));

    /// <summary>Id of a vocabulary or added token, or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out var a) ? a : _parts.Vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>The token string of an id (byte-level form for BPE tokens), or null.</summary>
    public string? IdToToken(int id) => _decoder.TokenOf(id);

    /// <summary>Encodes text to ids; <paramref name="addSpecialTokens"/> applies the post-processor's template (e.g. BOS).</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        return EncodeCore(text, addSpecialTokens, null);
    }

    /// <summary>
    /// Like <see cref="Encode(string, bool)"/>, and counts the input characters that no vocabulary
    /// token covers (bytes, for byte-level models): each became model.unk_token, or was dropped when
    /// the model has none. Byte-fallback tokens count as covered. Callers warn with it: such text
    /// reaches the model as something other than what was written.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens, out int unknownCharacters)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = EncodeCore(text, addSpecialTokens, null);
        unknownCharacters = EncodeScratch.ForCurrentThread.Unknown;
        return ids;
    }

    /// <summary>Like <see cref="Encode(string, bool)"/>, with the input character range of each token.</summary>
    public TokenizerEncoding EncodeWithOffsets(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var offsets = new List<(int, int)>();
        var ids = EncodeCore(text, addSpecialTokens, offsets);
        return new TokenizerEncoding(ids, [.. offsets]);
    }

    /// <summary>Encodes many texts in parallel; result i belongs to texts[i].</summary>
    public int[][] EncodeBatch(IReadOnlyList<string> texts, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var result = new int[texts.Count][];
        Parallel.For(0, texts.Count, i => result[i] = Encode(texts[i], addSpecialTokens));
        return result;
    }

    /// <summary>Decodes ids to text; invalid UTF-8 from partial byte tokens becomes U+FFFD.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => _decoder.Decode(ids, skipSpecialTokens);

    private int[] EncodeCore(string text, bool addSpecialTokens, List<(int, int)>? offsets)
    {
        var scratch = EncodeScratch.ForCurrentThread;
        var ids = scratch.Ids;
        ids.Clear();
        scratch.Unknown = 0;
        if (addSpecialTokens) AddTemplate(_parts.PostProcessor.Prefix, ids, offsets);
        text = ReplaceLoneSurrogates(text);
        var segments = scratch.Segments;
        segments.Clear();
        _rawMatcher.Split(text, 0, text.Length, segments);
        for (var s = 0; s < segments.Count; s++)
        {
            var seg = segments[s];
            if (seg.TokenId >= 0)
            {
                ids.Add(seg.TokenId);
                offsets?.Add((seg.Start, seg.Start + seg.Length));
            }
            else
            {
                EncodePlain(text, seg.Start, seg.Length, ids, scratch, offsets);
            }
        }
        if (addSpecialTokens) AddTemplate(_parts.PostProcessor.Suffix, ids, offsets);
        return ids.ToArray();
    }

    private static void AddTemplate(int[] template, List<int> ids, List<(int, int)>? offsets)
    {
        ids.AddRange(template);
        for (var i = 0; i < template.Length && offsets != null; i++) offsets.Add((0, 0));
    }

    private void EncodePlain(string text, int start, int length, List<int> ids, EncodeScratch scratch, List<(int, int)>? offsets)
    {
        var normalized = _parts.Normalizer?.Normalize(text.Substring(start, length));
        var atOrigin = start == 0;
        if (normalized is null || (_normalizedMatcher is null && text.AsSpan(start, length).SequenceEqual(normalized)))
        {
            EncodePieces(text, start, length, atOrigin, ids, scratch, offsets, null);
            return;
        }
        var coarse = (start, start + length);
        if (_normalizedMatcher is null)
        {
            EncodePieces(normalized, 0, normalized.Length, atOrigin, ids, scratch, offsets, coarse);
            return;
        }
        var inner = new List<Segment>();
        _normalizedMatcher.Split(normalized, 0, normalized.Length, inner);
        foreach (var seg in inner)
        {
            if (seg.TokenId >= 0)
            {
                ids.Add(seg.TokenId);
                offsets?.Add(coarse);
            }
            else
            {
                EncodePieces(normalized, seg.Start, seg.Length, atOrigin && seg.Start == 0, ids, scratch, offsets, coarse);
            }
        }
    }

    private void EncodePieces(string text, int start, int length, bool atOrigin, List<int> ids, EncodeScratch scratch,
        List<(int, int)>? offsets, (int, int)? coarse)
    {
        if (length == 0) return;
        var pre = _parts.PreTokenizer;
        var pieces = pre.Run(text, start, length, atOrigin, scratch.PiecesA, scratch.PiecesB, scratch.Matches);
        foreach (var piece in pieces)
        {
            var before = ids.Count;
            _parts.Model.Encode(piece.Span, pre.ByteLevel, ids, scratch);
            if (offsets is null) continue;
            var exact = coarse is null && pre.ByteLevel && ReferenceEquals(piece.Source, text);
            if (!exact || !OffsetMapper.TryAddByteLevel(piece, ids, before, _decoder, offsets))
            {
                var range = coarse ?? (ReferenceEquals(piece.Source, text) ? (piece.Start, piece.Start + piece.Length) : (start, start + length));
                for (var i = before; i < ids.Count; i++) offsets.Add(range);
            }
        }
    }

    private static string ReplaceLoneSurrogates(string text)
    {
        var span = text.AsSpan();
        var k = span.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (k < 0) return text;
        char[]? copy = null;
        for (var i = k; i < span.Length; i++)
        {
            if (!char.IsSurrogate(span[i])) continue;
            if (char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]))
            {
                i++;
                continue;
            }
            copy ??= text.ToCharArray();
            copy[i] = '\uFFFD';
        }
        return copy is null ? text : new string(copy);
    }
}
