using System.Text;

namespace R2M.Grpc.Internal;

/// <summary>
/// <c>grpc-message</c> encoding (PROTOCOL-HTTP2.md, "Status-Message"): the text is UTF-8 encoded,
/// then bytes 0x20-0x24 and 0x26-0x7E pass through and every other byte (including '%') becomes
/// "%XX" with uppercase hex. "When decoding invalid values, implementations MUST NOT error or throw
/// away the message": <see cref="Decode"/> never throws.
/// </summary>
internal static class PercentEncoding
{
    private const string Hex = "0123456789ABCDEF";

    public static string Encode(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        if (!NeedsEncoding(text))
        {
            return text;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        var sb = new StringBuilder(bytes.Length * 2);
        foreach (var b in bytes)
        {
            if (IsUnreserved(b))
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(Hex[b >> 4]).Append(Hex[b & 0xF]);
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Decodes %XX sequences and reads the bytes as UTF-8. A '%' not followed by two hex digits is
    /// kept literally; invalid UTF-8 becomes U+FFFD. Never throws.
    /// </summary>
    public static string Decode(string? encoded)
    {
        if (string.IsNullOrEmpty(encoded))
        {
            return "";
        }

        if (encoded.IndexOf('%') < 0)
        {
            return encoded;
        }

        var bytes = new List<byte>(encoded.Length);
        Span<byte> tmp = stackalloc byte[4];
        for (var i = 0; i < encoded.Length; i++)
        {
            var c = encoded[i];
            if (c == '%' && i + 2 < encoded.Length
                && TryHex(encoded[i + 1], out var hi) && TryHex(encoded[i + 2], out var lo))
            {
                bytes.Add((byte)((hi << 4) | lo));
                i += 2;
            }
            else if (c <= 0x7F)
            {
                bytes.Add((byte)c);
            }
            else
            {
                // A non-ASCII char should not appear in a header; keep it as its UTF-8 bytes.
                var pair = char.IsHighSurrogate(c) && i + 1 < encoded.Length && char.IsLowSurrogate(encoded[i + 1]);
                var n = Encoding.UTF8.GetBytes(encoded.AsSpan(i, pair ? 2 : 1), tmp);
                for (var k = 0; k < n; k++)
                {
                    bytes.Add(tmp[k]);
                }

                i += pair ? 1 : 0;
            }
        }

        // Encoding.UTF8 (not a throwing instance) substitutes U+FFFD for invalid sequences.
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool NeedsEncoding(string text)
    {
        foreach (var c in text)
        {
            if (c > 0x7F || !IsUnreserved((byte)c))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsUnreserved(byte b) => b is >= 0x20 and <= 0x7E and not 0x25;

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'A' and <= 'F' => c - 'A' + 10,
            >= 'a' and <= 'f' => c - 'a' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
