using R2M.Grpc.Internal;

namespace R2M.Grpc.Tests.Wire;

public sealed class Base64AndProtocolTests
{
    [Theory]
    [InlineData(new byte[0], "")]
    [InlineData(new byte[] { 0x66 }, "Zg")]
    [InlineData(new byte[] { 0x66, 0x6F }, "Zm8")]
    [InlineData(new byte[] { 0x66, 0x6F, 0x6F }, "Zm9v")]
    [InlineData(new byte[] { 0xFB, 0xFF }, "+/8")]
    public void Encode_Unpadded_DecodePaddedAndUnpadded(byte[] bytes, string unpadded)
    {
        Assert.Equal(unpadded, Base64Header.Encode(bytes));
        Assert.True(Base64Header.TryDecode(unpadded, out var a));
        Assert.Equal(bytes, a);
        Assert.True(Base64Header.TryDecode(Convert.ToBase64String(bytes), out var b));
        Assert.Equal(bytes, b);
    }

    [Theory]
    [InlineData("Z")]
    [InlineData("Zm9v!")]
    [InlineData("Zm=v")]
    public void TryDecode_NotBase64_False(string text)
    {
        Assert.False(Base64Header.TryDecode(text, out _));
    }

    [Fact]
    public void RoundTrip_RandomBytes_AllLengths()
    {
        var rng = new Random(3);
        for (var n = 0; n < 70; n++)
        {
            var bytes = new byte[n];
            rng.NextBytes(bytes);
            var text = Base64Header.Encode(bytes);
            Assert.DoesNotContain('=', text);
            Assert.True(Base64Header.TryDecode(text, out var back));
            Assert.Equal(bytes, back);
        }
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc+json", true)]
    [InlineData("application/grpc; charset=utf-8", true)]
    [InlineData("Application/GRPC", true)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsGrpcContentType_Cases(string? contentType, bool expected)
    {
        Assert.Equal(expected, GrpcProtocol.IsGrpcContentType(contentType));
    }

    [Theory]
    [InlineData(400, StatusCode.Internal)]
    [InlineData(401, StatusCode.Unauthenticated)]
    [InlineData(403, StatusCode.PermissionDenied)]
    [InlineData(404, StatusCode.Unimplemented)]
    [InlineData(429, StatusCode.Unavailable)]
    [InlineData(431, StatusCode.Internal)]
    [InlineData(502, StatusCode.Unavailable)]
    [InlineData(503, StatusCode.Unavailable)]
    [InlineData(504, StatusCode.Unavailable)]
    [InlineData(500, StatusCode.Unknown)]
    [InlineData(200, StatusCode.Unknown)]
    public void FromHttpStatus_Table(int http, StatusCode expected)
    {
        Assert.Equal(expected, StatusMapping.FromHttpStatus(http));
    }

    [Theory]
    [InlineData(0x0, StatusCode.Internal)]
    [InlineData(0x1, StatusCode.Internal)]
    [InlineData(0x7, StatusCode.Unavailable)]
    [InlineData(0x8, StatusCode.Cancelled)]
    [InlineData(0xb, StatusCode.ResourceExhausted)]
    [InlineData(0xc, StatusCode.PermissionDenied)]
    [InlineData(0xd, StatusCode.Internal)]
    public void FromHttp2ErrorCode_Table(long code, StatusCode expected)
    {
        Assert.Equal(expected, StatusMapping.FromHttp2ErrorCode(code));
    }

    [Theory]
    [InlineData("0", StatusCode.OK)]
    [InlineData("16", StatusCode.Unauthenticated)]
    [InlineData("x", StatusCode.Unknown)]
    [InlineData("", StatusCode.Unknown)]
    [InlineData(null, StatusCode.Unknown)]
    [InlineData("-1", StatusCode.Unknown)]
    public void ParseStatus_Cases(string? value, StatusCode expected)
    {
        Assert.Equal(expected, StatusMapping.ParseStatus(value));
    }

    [Fact]
    public void AcceptListContains_TrimsAndIgnoresCase()
    {
        Assert.True(GrpcCompression.AcceptListContains("identity, GZIP ,deflate", "gzip"));
        Assert.False(GrpcCompression.AcceptListContains("identity,deflate", "gzip"));
        Assert.False(GrpcCompression.AcceptListContains(null, "gzip"));
    }
}
