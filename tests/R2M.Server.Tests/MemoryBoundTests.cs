using Google.Protobuf;
using Grpc.Core;
using R2M.Api.V1;
using Xunit.Abstractions;

namespace R2M.Server.Tests;

/// <summary>Tests that measure the process's managed memory run alone: no other test allocates meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "managed memory measured";
}

/// <summary>
/// Floods that used to grow the server without bound: chunks of one item, pipelined items a client
/// never reads the replies of, and text tokenized before the context check. The server runs in this
/// process, so the GC's own counters measure it: <see cref="GC.GetTotalMemory(bool)"/> after a full
/// collection (bytes retained) and <see cref="GC.GetTotalAllocatedBytes(bool)"/> (bytes allocated).
/// Caps are set through the command line (--R2M:...), as an operator would.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class MemoryBoundTests(ITestOutputHelper output)
{
    private const int MiB = 1 << 20;

    /// <summary>One chunk of f16 hidden states of <paramref name="rows"/> rows (zeros: finite), sharing one payload.</summary>
    private static Tensor F16Rows(int rows, ByteString? data = null) =>
        new() { Dtype = DType.F16, Shape = { rows, TestModels.PolicyWidth }, Data = data ?? ByteString.CopyFrom(new byte[rows * TestModels.PolicyWidth * 2]) };

    private static ScoreRequest Item(string id, Tensor? hidden, bool more = false) => new()
    {
        ItemId = id, MoreChunks = more, HiddenStates = hidden,
        Inline = new InlineItem { PromptText = "sort 3 1 2 =", ResponseText = " 1 2 3" },
        Options = new ScoreOptions { Schedule = TestServer.Schedule() },
    };

    private static long Retained() => GC.GetTotalMemory(forceFullCollection: true);

    [Fact]
    public async Task Score_ChunkFloodOfOneItem_RetainedMemoryStaysUnderThePerItemCap()
    {
        const int Cap = 4 * MiB;
        await using var server = await TestServer.StartAsync(args: [$"--R2M:MaxHiddenStateBytesPerItem={Cap}"]);
        Assert.Null((await server.ScoreAsync([Item("warm-up", F16Rows(4))])).Single().Error);
        var before = Retained();

        // 64 chunks of 1 MiB f16 (32768 rows each): 128 MiB once decoded, 32 times the cap.
        const int Rows = MiB / (2 * TestModels.PolicyWidth);
        var payload = ByteString.CopyFrom(new byte[MiB]);
        using var call = server.Reward.Score(server.Call());
        for (var c = 0; c < 64; c++)
        {
            var chunk = c == 0 ? Item("flood", F16Rows(Rows, payload), more: true) : new ScoreRequest { ItemId = "flood", ChunkIndex = (uint)c, MoreChunks = true, HiddenStates = F16Rows(Rows, payload) };
            await call.RequestStream.WriteAsync(chunk).WaitAsync(TestServer.Timeout);
        }

        // The client's writes complete once HTTP/2 flow control lets them through, so the server has
        // read all but its stream window (8 MiB) of the 64 MiB sent; the item is still open.
        var grown = Retained() - before;
        await call.RequestStream.WriteAsync(new ScoreRequest { ItemId = "flood", ChunkIndex = 64, HiddenStates = F16Rows(Rows, payload) }).WaitAsync(TestServer.Timeout);
        await call.RequestStream.WriteAsync(Item("after", F16Rows(4))).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        var replies = new Dictionary<string, ScoreReply>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout))
        {
            replies[call.ResponseStream.Current.ItemId] = call.ResponseStream.Current;
        }

        output.WriteLine($"retained while the flooded item was open: {grown / (double)MiB:F1} MiB (cap {Cap / MiB} MiB); reply: {replies["flood"]}");
        Assert.True(grown < Cap + 16L * MiB, $"the server kept {grown / (double)MiB:F1} MiB of one item's chunks; R2M:MaxHiddenStateBytesPerItem is {Cap / MiB} MiB");
        Assert.Equal((int)StatusCode.ResourceExhausted, replies["flood"].Error?.Code);
        Assert.Contains("R2M:MaxHiddenStateBytesPerItem", replies["flood"].Error!.Message, StringComparison.Ordinal);
        Assert.Null(replies["after"].Error); // the stream goes on
    }

    [Fact]
    public async Task Score_PipelinedItemsNeverAnswered_StreamStopsReadingAtItsCap()
    {
        const int StreamCap = 8 * MiB;
        var logs = new LogCapture();
        // The batch window never closes and the batch never fills: every item read stays in flight.
        await using var server = await TestServer.StartAsync(o => (o.ScoreBatchWindowMs, o.ScoreMaxBatch) = (1e9, 100_000), services: logs.AddTo, args:
            [$"--R2M:MaxInFlightBytesPerStream={StreamCap}", $"--R2M:MaxHiddenStateBytesPerItem={MiB}", $"--R2M:MaxReceiveMessageBytes={2 * MiB}"]);
        var before = Retained();

        // 128 items of 16384 rows (1 MiB decoded each, 512 KiB on the wire as f16): 128 MiB held if all were read.
        var payload = ByteString.CopyFrom(new byte[MiB / 2]);
        using var call = server.Reward.Score(server.Call());
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 128; i++)
            {
                await call.RequestStream.WriteAsync(Item($"i{i}", F16Rows(MiB / 4 / TestModels.PolicyWidth, payload)));
            }
        });

        // Either the server stopped reading (its debug line) or it read everything the client wrote.
        var paused = await Probe.UntilAsync(() => writer.IsCompleted || logs.Lines.Any(l => l.Message.StartsWith("Score stream paused reading", StringComparison.Ordinal)));
        var grown = Retained() - before;
        output.WriteLine($"retained with the stream's items unanswered: {grown / (double)MiB:F1} MiB (stream cap {StreamCap / MiB} MiB); writer finished: {writer.IsCompleted}");
        Assert.True(paused, "neither paused nor finished writing");
        Assert.False(writer.IsCompleted, "the server read all 128 items although none could be answered");
        Assert.True(grown < StreamCap + 16L * MiB, $"the stream's unanswered items hold {grown / (double)MiB:F1} MiB; R2M:MaxInFlightBytesPerStream is {StreamCap / MiB} MiB");
    }

    [Fact]
    public async Task Score_TextFlood_RefusedBeforeTokenizing_AllocatesAboutTheMessageOnly()
    {
        const int TextCap = 64 * 1024;
        await using var server = await TestServer.StartAsync(args: [$"--R2M:MaxTextBytes={TextCap}"]);
        var text = string.Concat(Enumerable.Repeat("1 2 ", 2 * MiB)); // 8 MiB of ASCII
        var item = new ScoreRequest { ItemId = "text", Inline = new InlineItem { PromptText = "sort =", ResponseText = text } };
        var prompt = new GenerateRequest { Prompts = { new Prompt { Text = text } }, Sampling = new SamplingParams { MaxNewTokens = 1 } };
        Assert.Null((await server.ScoreAsync([Item("warm-up", null)])).Single().Error);

        var start = GC.GetTotalAllocatedBytes(precise: true);
        var reply = (await server.ScoreAsync([item])).Single();
        var scored = GC.GetTotalAllocatedBytes(precise: true) - start;
        var e = await Assert.ThrowsAsync<RpcException>(() => server.GenerateAsync(prompt));
        var generated = GC.GetTotalAllocatedBytes(precise: true) - start - scored;

        // Sending costs the client's serialization (8 MiB) and the server's string (16 MiB, UTF-16);
        // tokenizing 8 MiB would allocate well over 100 MiB.
        output.WriteLine($"Score: {scored / (double)MiB:F1} MiB allocated, {reply.Error}; Generate: {generated / (double)MiB:F1} MiB, {e.Status}");
        Assert.Equal((int)StatusCode.ResourceExhausted, reply.Error?.Code);
        Assert.Contains("R2M:MaxTextBytes", reply.Error!.Message, StringComparison.Ordinal);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("prompts[0].text", e.Status.Detail, StringComparison.Ordinal);
        Assert.True(scored < 8L * text.Length, $"Score allocated {scored / (double)MiB:F1} MiB for {text.Length / MiB} MiB of text");
        Assert.True(generated < 8L * text.Length, $"Generate allocated {generated / (double)MiB:F1} MiB for {text.Length / MiB} MiB of text");
    }

    [Fact]
    public async Task Score_ServerWideBudgetFull_OtherStreamsItemRefusedInBandNamingTheOption()
    {
        await using var server = await TestServer.StartAsync(o => o.MetricsPort = 0, args:
        [
            $"--R2M:MaxInFlightBytes={4 * MiB}", $"--R2M:MaxInFlightBytesPerStream={4 * MiB}", $"--R2M:MaxHiddenStateBytesPerItem={4 * MiB}",
            $"--R2M:MaxReceiveMessageBytes={2 * MiB}",
        ]);
        // Stream A holds an open item of 3 MiB decoded (its last chunk never comes).
        using var a = server.Reward.Score(server.Call());
        var third = MiB / 4 / TestModels.PolicyWidth;
        await a.RequestStream.WriteAsync(Item("a", F16Rows(third), more: true)).WaitAsync(TestServer.Timeout);
        await a.RequestStream.WriteAsync(new ScoreRequest { ItemId = "a", ChunkIndex = 1, MoreChunks = true, HiddenStates = F16Rows(2 * third) }).WaitAsync(TestServer.Timeout);
        Assert.True(await Probe.UntilAsync(async () => await Probe.InFlightBytesAsync(server) >= 3 * MiB), "stream A's chunks were not counted in r2m_inflight_bytes");

        var b = (await server.ScoreAsync([Item("b", F16Rows(2 * third)), Item("small", F16Rows(4))])).ToDictionary(r => r.ItemId);
        Assert.Equal((int)StatusCode.ResourceExhausted, b["b"].Error?.Code);
        Assert.Contains("R2M:MaxInFlightBytes", b["b"].Error!.Message, StringComparison.Ordinal);
        Assert.Null(b["small"].Error);

        a.Dispose(); // the abandoned item gives its bytes back
        Assert.True(await Probe.UntilAsync(async () => await Probe.InFlightBytesAsync(server) == 0), "bytes still held after both streams ended");
    }
}
