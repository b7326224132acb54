using System.Buffers.Text;

namespace R2M.Grpc.Internal;

/// <summary>
/// Base64 for <c>-bin</c> metadata values. PROTOCOL-HTTP2.md: "Implementations MUST accept padded
/// and un-padded values and should emit un-padded values."
/// </summary>
internal static class Base64Header
{
    /// <summary>Standard-alphabet base64 without '=' padding.</summary>
    public static string Encode(ReadOnlySpan<byte> value) => Convert.ToBase64String(value).TrimEnd('=');

    /// <summary>Decodes one padded or unpadded value; false for anything that is not base64.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out byte[] value)
    {
        text = text.Trim();
        var rem = text.Length % 4;
        if (rem == 1)
        {
            value = [];
            return false;
        }

        var padded = rem == 0 ? text.ToString() : string.Concat(text, new string('=', 4 - rem));
        var buffer = new byte[padded.Length / 4 * 3];
        if (!Convert.TryFromBase64String(padded, buffer, out var written))
        {
            value = [];
            return false;
        }

        value = written == buffer.Length ? buffer : buffer.AsSpan(0, written).ToArray();
        return true;
    }

    /// <summary>
    /// Splits a received header value on ',' (duplicates may have been joined, PROTOCOL-HTTP2.md)
    /// and decodes each part. Parts that are not base64 are reported as false.
    /// </summary>
    public static bool TryDecodeList(string headerValue, List<byte[]> values)
    {
        var ok = true;
        foreach (var range in headerValue.AsSpan().Split(','))
        {
            if (TryDecode(headerValue.AsSpan()[range], out var bytes))
            {
                values.Add(bytes);
            }
            else
            {
                ok = false;
            }
        }

        return ok;
    }

    // Kept so callers that hold UTF-8 header bytes can validate without allocating a string.
    public static bool IsValidBase64Utf8(ReadOnlySpan<byte> utf8) => Base64.IsValid(utf8);
}
