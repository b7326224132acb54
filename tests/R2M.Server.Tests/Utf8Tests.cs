using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// A protobuf string must be UTF-8: one that is not is INVALID_ARGUMENT naming the field, whatever
/// the call type (a unary request is read before any handler) and whatever the service; a real
/// U+FFFD (valid UTF-8) passes unchanged. Requests are built as raw bytes, since no generated client
/// can encode a string that is not UTF-8.
/// </summary>
public sealed class Utf8Tests
{
    /// <summary>Field <paramref name="number"/> (length-delimited) holding <paramref name="value"/> as raw bytes.</summary>
    private static byte[] Field(int number, byte[] value)
    {
        using var stream = new MemoryStream();
        var output = new CodedOutputStream(stream);
        output.WriteTag(number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(value));
        output.Flush();
        return stream.ToArray();
    }

    private static readonly byte[] NotUtf8 = [0x31, 0xC3, 0x28, 0x32]; // "1", a lead byte without its continuation, "(2"

    [Fact]
    public async Task Score_ItemIdNotUtf8_InvalidArgumentNamingItemId()
    {
        await using var server = await TestServer.StartAsync(o => o.MetricsPort = 0);
        var rest = new ScoreRequest { Inline = new InlineItem { PromptText = "sort 1 =", ResponseText = " 1" } }.ToByteArray();
        var (replies, status) = await Probe.StreamAsync(server.Channel, MethodType.DuplexStreaming, RewardModel.Descriptor.FullName, "Score", [[.. Field(1, NotUtf8), .. rest]]);
        Assert.Empty(replies); // no reply echoes an id the client never sent
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("item_id is not valid UTF-8", status.Detail, StringComparison.Ordinal);
        Assert.Contains("r2m_requests_total{method=\"/r2m.v1.RewardModel/Score\",code=\"InvalidArgument\"} 1", await Probe.MetricsAsync(server, "r2m_requests_total"));
    }

    [Fact]
    public async Task Generate_NestedPromptTextNotUtf8_InvalidArgumentNamingThePath()
    {
        await using var server = await TestServer.StartAsync();
        var good = new Prompt { Text = "sort 1 2 =" }.ToByteArray();
        byte[] request = [.. Field(1, good), .. Field(1, Field(1, NotUtf8))]; // prompts[0] fine, prompts[1].text not UTF-8
        var (_, status) = await Probe.CallAsync(server.Channel, MethodType.ServerStreaming, Policy.Descriptor.FullName, "Generate", request);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("prompts[1].text is not valid UTF-8", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_MemberResponseTextNotUtf8_InvalidArgumentNamingThePath()
    {
        await using var server = await TestServer.StartAsync();
        var config = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() }, GroupId = "g" }.ToByteArray();
        var member = new GroupMember { Inline = new InlineItem { PromptText = "sort 1 =" } }.ToByteArray();
        var badMember = Field(2, Field(3, NotUtf8)); // inline.response_text
        byte[] group = [.. config, .. Field(3, member), .. Field(3, badMember)];
        var (_, status) = await Probe.StreamAsync(server.Channel, MethodType.ClientStreaming, RewardModel.Descriptor.FullName, "Update", [group]);
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("request message 1 of the stream: members[1].inline.response_text is not valid UTF-8", status.Detail, StringComparison.Ordinal);
        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion);
    }

    [Fact]
    public async Task Health_ServiceNameNotUtf8_InvalidArgument_TheBindingCoversEveryService()
    {
        await using var server = await TestServer.StartAsync();
        var (_, status) = await Probe.CallAsync(server.Channel, MethodType.Unary, Health.Descriptor.FullName, "Check", Field(1, NotUtf8));
        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("service is not valid UTF-8", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_RealReplacementCharacter_IsValidUtf8AndEchoedUnchanged()
    {
        await using var server = await TestServer.StartAsync();
        var reply = (await server.ScoreAsync([new ScoreRequest { ItemId = "id-\uFFFD", Inline = new InlineItem { PromptText = "sort 1 = \uFFFD", ResponseText = " 1" } }])).Single();
        Assert.Equal("id-\uFFFD", reply.ItemId);
        Assert.Null(reply.Error);
    }
}
