using System.Security.Cryptography;
using System.Text;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// The <c>authorization</c> header of RFC 6750 section 2.1: <c>credentials = "Bearer" 1*SP b64token</c>,
/// the scheme compared case-insensitively (RFC 9110 section 11.1), the token compared in constant time.
/// </summary>
internal static class BearerToken
{
    private const string Scheme = "Bearer";

    /// <summary>The token of a Bearer header, or null when the value is not <c>Bearer &lt;token&gt;</c>.</summary>
    public static string? Parse(string? header)
    {
        if (header is null || header.Length <= Scheme.Length || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || header[Scheme.Length] != ' ')
        {
            return null;
        }

        var token = header.AsSpan(Scheme.Length).TrimStart(' ');
        return token.Length == 0 || FirstInvalidCharacter(token) is not null ? null : token.ToString();
    }

    /// <summary>
    /// Null when <paramref name="token"/> is a b64token (RFC 6750 section 2.1:
    /// <c>1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="</c>); else what is wrong.
    /// </summary>
    public static string? FirstInvalidCharacter(ReadOnlySpan<char> token)
    {
        var end = token.Length;
        while (end > 0 && token[end - 1] == '=') end--;
        if (end == 0) return "is empty or only '=' (RFC 6750 b64token)";
        for (var i = 0; i < end; i++)
        {
            var c = token[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '+' or '/'))
            {
                return $"has a character at position {i} outside the RFC 6750 b64token set (A-Z a-z 0-9 - . _ ~ + / and trailing =)";
            }
        }

        return null;
    }

    /// <summary>
    /// Constant-time equality of two tokens: their SHA-256 digests are compared with
    /// <see cref="CryptographicOperations.FixedTimeEquals"/>, so neither the position of the first
    /// difference nor the key's length shows in the time taken.
    /// </summary>
    public static bool FixedTimeEquals(string given, byte[] expectedDigest) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), expectedDigest);

    public static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
