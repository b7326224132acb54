using R2M.Grpc.Internal;

namespace R2M.Grpc.Tests.Wire;

public sealed class PercentEncodingTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("plain text: ok!", "plain text: ok!")]
    [InlineData("100%", "100%25")] // '%' itself is always encoded
    [InlineData("line1\nline2", "line1%0Aline2")]
    [InlineData("tab\t", "tab%09")]
    [InlineData("\u007f", "%7F")]
    [InlineData("café", "caf%C3%A9")]
    [InlineData("✓", "%E2%9C%93")]
    [InlineData("😀", "%F0%9F%98%80")]
    [InlineData(" $&~", " $&~")] // 0x20-0x24 and 0x26-0x7E pass through
    public void Encode_SpecRules(string text, string encoded)
    {
        Assert.Equal(encoded, PercentEncoding.Encode(text));
        Assert.Equal(text, PercentEncoding.Decode(encoded));
    }

    [Fact]
    public void Decode_LowercaseHex_Accepted()
    {
        Assert.Equal("é", PercentEncoding.Decode("%c3%a9"));
    }

    [Theory]
    [InlineData("%", "%")]
    [InlineData("50%", "50%")]
    [InlineData("%G1x", "%G1x")]
    [InlineData("%4", "%4")]
    [InlineData("a%2", "a%2")]
    public void Decode_MalformedEscapes_KeptLiterally(string encoded, string decoded)
    {
        Assert.Equal(decoded, PercentEncoding.Decode(encoded));
    }

    [Fact]
    public void Decode_InvalidUtf8_ReplacementCharNoThrow()
    {
        Assert.Equal("a\uFFFDb", PercentEncoding.Decode("a%FFb"));
        Assert.Contains('\uFFFD', PercentEncoding.Decode("%E2%9C"));
    }

    [Fact]
    public void RoundTrip_RandomStrings_Identity()
    {
        var rng = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var chars = new char[rng.Next(0, 40)];
            for (var k = 0; k < chars.Length; k++)
            {
                // Mix of ASCII (incl. controls and '%') and BMP characters outside the surrogate range.
                chars[k] = rng.Next(3) == 0 ? (char)rng.Next(0xA0, 0xD7FF) : (char)rng.Next(0, 0x80);
            }

            var text = new string(chars);
            var encoded = PercentEncoding.Encode(text);
            Assert.All(encoded, c => Assert.InRange(c, (char)0x20, (char)0x7E));
            Assert.Equal(text, PercentEncoding.Decode(encoded));
        }
    }

    [Fact]
    public void Decode_RandomGarbage_NeverThrows()
    {
        var rng = new Random(11);
        const string alphabet = "%%%0123456789ABCDEFabcdefXYZ \u00e9\ud83d";
        for (var i = 0; i < 2000; i++)
        {
            var chars = Enumerable.Range(0, rng.Next(0, 20)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray();
            _ = PercentEncoding.Decode(new string(chars));
        }
    }
}
