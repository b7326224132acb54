using R2M.Grpc.Internal;

namespace R2M.Grpc.Tests.Wire;

public sealed class MetadataTests
{
    [Fact]
    public void Add_UppercaseKey_Lowercased()
    {
        var metadata = new Metadata().Add("X-Trace-Id", "abc");

        Assert.Equal("x-trace-id", metadata[0].Key);
        Assert.Equal("abc", metadata.GetValue("x-trace-id"));
    }

    [Theory]
    [InlineData("bad key")]
    [InlineData("key:colon")]
    [InlineData("grpc-status")]
    [InlineData("")]
    public void Add_InvalidKey_ArgumentExceptionNamingKey(string key)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new Metadata().Add(key, "v"));
        if (key.Length > 0)
        {
            Assert.Contains(key, ex.Message);
        }
    }

    [Fact]
    public void Add_NonAsciiValue_Rejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Metadata().Add("k", "caf\u00e9"));
        Assert.Contains("'k'", ex.Message);
        Assert.Throws<ArgumentException>(() => new Metadata().Add("k", "a\nb"));
    }

    [Fact]
    public void BinaryKeys_RequireBytesAndViceVersa()
    {
        Assert.Throws<ArgumentException>(() => new Metadata().Add("blob-bin", "text"));
        Assert.Throws<ArgumentException>(() => new Metadata().Add("blob", new byte[] { 1 }));
        var metadata = new Metadata().Add("blob-bin", new byte[] { 0xFF, 0x00 });
        Assert.True(metadata[0].IsBinary);
        Assert.Equal("/wA", metadata[0].Value); // unpadded base64 on the wire
        Assert.Equal(new byte[] { 0xFF, 0x00 }, metadata.GetValueBytes("blob-bin"));
    }

    [Fact]
    public void GetAll_RepeatedKey_InOrder()
    {
        var metadata = new Metadata().Add("k", "1").Add("other", "x").Add("k", "2");

        Assert.Equal(["1", "2"], metadata.GetAll("k").Select(e => e.Value));
        Assert.Equal("2", metadata.GetValue("k"));
        Assert.Null(metadata.GetValue("missing"));
    }

    [Fact]
    public void TryAddReceivedHeader_ReservedSkipped_BinarySplitAndDecoded()
    {
        var metadata = new Metadata();

        Assert.True(GrpcProtocol.TryAddReceivedHeader(metadata, ":path", "/x"));
        Assert.True(GrpcProtocol.TryAddReceivedHeader(metadata, "grpc-timeout", "1S"));
        Assert.True(GrpcProtocol.TryAddReceivedHeader(metadata, "content-type", "application/grpc"));
        Assert.True(GrpcProtocol.TryAddReceivedHeader(metadata, "x-bin", "AQI=,AwQ"));
        Assert.False(GrpcProtocol.TryAddReceivedHeader(metadata, "y-bin", "!!!"));
        Assert.True(GrpcProtocol.TryAddReceivedHeader(metadata, "authorization", "Bearer t"));

        Assert.Equal(["x-bin", "x-bin", "authorization"], metadata.Select(e => e.Key));
        Assert.Equal(new byte[] { 1, 2 }, metadata[0].ValueBytes);
        Assert.Equal(new byte[] { 3, 4 }, metadata[1].ValueBytes);
    }
}
