using System.Text;

namespace R2M.Tokenizers.Internal;

/// <summary>
/// ids -> text. With the ByteLevel decoder each token's chars map back to bytes through the GPT-2
/// table (a char outside the table contributes its own UTF-8, as tokenizers' decoders/byte_level.rs
/// does) and the bytes are decoded as UTF-8 with U+FFFD for invalid sequences. Added tokens are
/// emitted verbatim, as transformers.js ByteLevelDecoder does. Without a decoder, tokens are
/// joined with spaces (tokenizers' default).
/// </summary>
internal sealed class TokenDecoder
{
    private readonly string?[] _tokens;
    private readonly byte[]?[] _bytes;
    private readonly bool[] _isAdded;
    private readonly bool[] _isSpecial;
    private readonly bool _byteLevel;

    public TokenDecoder(Dictionary<string, int> vocab, List<AddedTokenSpec> added, bool byteLevel)
    {
        var size = 0;
        foreach (var id in vocab.Values) size = Math.Max(size, id + 1);
        foreach (var t in added) size = Math.Max(size, t.Id + 1);
        Size = size;
        _tokens = new string?[size];
        _bytes = new byte[]?[size];
        _isAdded = new bool[size];
        _isSpecial = new bool[size];
        _byteLevel = byteLevel;
        foreach (var (token, id) in vocab) _tokens[id] = token;
        foreach (var t in added)
        {
            _tokens[t.Id] = t.Content;
            _isAdded[t.Id] = true;
            _isSpecial[t.Id] = t.Special;
        }
        if (!byteLevel) return;
        for (var id = 0; id < size; id++)
        {
            if (_tokens[id] is { } tok) _bytes[id] = _isAdded[id] ? Encoding.UTF8.GetBytes(tok) : ToBytes(tok);
        }
    }

    public int Size { get; }

    public string? TokenOf(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecial)
    {
        if (!_byteLevel) return DecodePlain(ids, skipSpecial);
        var buffer = new List<byte>(ids.Length * 4);
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            Check(id);
            if (skipSpecial && _isSpecial[id]) continue;
            if (_isAdded[id])
            {
                Flush(buffer, sb);
                sb.Append(_tokens[id]);
                continue;
            }
            buffer.AddRange(_bytes[id]!);
        }
        Flush(buffer, sb);
        return sb.ToString();
    }

    private string DecodePlain(ReadOnlySpan<int> ids, bool skipSpecial)
    {
        var parts = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            Check(id);
            if (!(skipSpecial && _isSpecial[id])) parts.Add(_tokens[id]!);
        }
        return string.Join(' ', parts);
    }

    private void Check(int id)
    {
        if ((uint)id >= (uint)_tokens.Length || _tokens[id] is null)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is not in the vocabulary (size {Size})");
        }
    }

    private static void Flush(List<byte> buffer, StringBuilder sb)
    {
        if (buffer.Count == 0) return;
        // Encoding.UTF8 replaces each maximal invalid subsequence with one U+FFFD (Unicode 3.9 best practice).
        sb.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(buffer)));
        buffer.Clear();
    }

    private static byte[] ToBytes(string token)
    {
        var bytes = new List<byte>(token.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < token.Length; i++)
        {
            var c = token[i];
            var b = c < ByteLevelTable.CharToByte.Length ? ByteLevelTable.CharToByte[c] : (short)-1;
            if (b >= 0)
            {
                bytes.Add((byte)b);
                continue;
            }
            var rune = Rune.TryGetRuneAt(token, i, out var r) ? r : Rune.ReplacementChar;
            var n = rune.EncodeToUtf8(utf8);
            for (var k = 0; k < n; k++) bytes.Add(utf8[k]);
            i += rune.Utf16SequenceLength - 1;
        }
        return bytes.ToArray();
    }
}
