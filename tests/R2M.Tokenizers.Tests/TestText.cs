using System.Text;

namespace R2M.Tokenizers.Tests;

/// <summary>Text helpers shared by the differential tests.</summary>
internal static class TestText
{
    /// <summary>The first 120 chars, with controls, U+0085, U+FEFF and lone low surrogates as \uXXXX (for failure messages).</summary>
    public static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (var c in s.Length > 120 ? s[..120] : s)
        {
            sb.Append(c < 0x20 || c is '\u0085' or '\uFEFF' || char.IsSurrogate(c) && !char.IsHighSurrogate(c) ? $"\\u{(int)c:X4}" : c.ToString());
        }
        return sb.ToString();
    }

    /// <summary><paramref name="s"/> with each unpaired UTF-16 surrogate replaced by U+FFFD.</summary>
    public static string WithoutLoneSurrogates(string s)
    {
        var chars = s.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }
}
