using System.Runtime.InteropServices;
using System.Text;
using R2M.Tokenizers.Internal.Decoding;

namespace R2M.Tokenizers.Internal;

/// <summary>
/// ids -> text as huggingface/tokenizers' <c>TokenizerImpl::decode</c> does: each id becomes its token
/// string (added tokens first, then the model vocab), special tokens are dropped on request, and the
/// token list goes through the decoder chain (every token, added ones included); without a decoder
/// the tokens are joined with spaces. A chain that is one ByteLevel decoder takes a fast path over
/// byte images computed once per id.
/// </summary>
internal sealed class TokenDecoder
{
    private readonly string?[] _tokens;
    private readonly byte[]?[] _bytes;
    private readonly bool[] _isSpecial;
    private readonly DecoderChain? _chain;

    public TokenDecoder(Dictionary<string, int> vocab, List<AddedTokenSpec> added, DecoderChain? chain)
    {
        var size = 0;
        foreach (var id in vocab.Values) size = Math.Max(size, id + 1);
        foreach (var t in added) size = Math.Max(size, t.Id + 1);
        Size = size;
        _tokens = new string?[size];
        _bytes = new byte[]?[size];
        _isSpecial = new bool[size];
        _chain = chain;
        foreach (var (token, id) in vocab) _tokens[id] = token;
        var special = added.Where(t => t.Special).Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        foreach (var t in added) _tokens[t.Id] = t.Content;
        for (var id = 0; id < size; id++)
        {
            if (_tokens[id] is not { } tok) continue;
            // Special-ness is a property of the content (added_vocabulary.rs is_special_token).
            _isSpecial[id] = special.Contains(tok);
            // Byte images: the ByteLevel fast path needs them, offsets of byte-level pieces their lengths.
            _bytes[id] = ByteLevelStep.TokenBytes(tok);
        }
    }

    /// <summary>Number of input bytes a byte-level model token stands for (-1 for an unknown id).</summary>
    public int ByteLength(int id) => (uint)id < (uint)_bytes.Length && _bytes[id] is { } b ? b.Length : -1;

    public int Size { get; }

    public string? TokenOf(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial)
    {
        if (_chain is { IsByteLevelOnly: true }) return DecodeByteLevel(ids, skipSpecial);
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            Check(id);
            if (!(skipSpecial && _isSpecial[id])) tokens.Add(_tokens[id]!);
        }
        return _chain is null ? string.Join(' ', tokens) : _chain.Decode(tokens);
    }

    private string DecodeByteLevel(ReadOnlySpan<int> ids, bool skipSpecial)
    {
        var buffer = new List<byte>(ids.Length * 4);
        foreach (var id in ids)
        {
            Check(id);
            if (!(skipSpecial && _isSpecial[id])) buffer.AddRange(_bytes[id]!);
        }
        // Encoding.UTF8 replaces each maximal invalid subsequence with one U+FFFD, as Rust's from_utf8_lossy does.
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(buffer));
    }

    private void Check(int id)
    {
        if ((uint)id >= (uint)_tokens.Length || _tokens[id] is null)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in the vocabulary (size {Size})");
        }
    }
}
