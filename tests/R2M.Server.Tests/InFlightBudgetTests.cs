using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>The in-flight byte budget: each cap refuses naming its option, gives wake a waiting reader, and waiting never deadlocks.</summary>
public sealed class InFlightBudgetTests
{
    private static InFlightBudget Budget(long server, long stream) =>
        new(new R2MServerOptions { MaxInFlightBytes = server, MaxInFlightBytesPerStream = stream }, new ServerMetrics());

    [Fact]
    public void Take_AboveEitherCap_RefusedNamingTheOption_NothingTaken()
    {
        var server = Budget(server: 100, stream: 60);
        var a = server.OpenStream();
        var b = server.OpenStream();
        a.Take(50, "a1");
        var perStream = Assert.Throws<LimitExceededException>(() => a.Take(11, "a2"));
        Assert.Contains("R2M:MaxInFlightBytesPerStream (60 bytes)", perStream.Message, StringComparison.Ordinal);
        b.Take(40, "b1");
        var serverWide = Assert.Throws<LimitExceededException>(() => b.Take(11, "b2"));
        Assert.Contains("R2M:MaxInFlightBytes (100 bytes)", serverWide.Message, StringComparison.Ordinal);
        Assert.Equal((50, 40, 90), (a.Held, b.Held, server.Held));
        a.Give(50);
        b.Take(11, "b2");
        Assert.Equal(51, server.Held);
    }

    [Fact]
    public async Task WaitForRoom_FullStream_CompletesOnlyAfterAGive()
    {
        var stream = Budget(server: 1000, stream: 100).OpenStream();
        stream.Take(80, "pending items");
        var waits = 0;
        var room = stream.WaitForRoomAsync(30, own: 0, () => waits++, CancellationToken.None).AsTask();
        Assert.False(room.IsCompleted);
        Assert.Equal(1, waits);
        stream.Give(5); // 85 + 30 > 100: still no room
        await Task.Yield();
        Assert.False(room.IsCompleted);
        stream.Give(20);
        await room.WaitAsync(TestServer.Timeout);
        Assert.Equal(1, waits);
    }

    [Fact]
    public async Task WaitForRoom_OnlyTheItemBeingReadHeld_NeverWaits()
    {
        var stream = Budget(server: 1000, stream: 100).OpenStream();
        stream.Take(90, "the open item");
        await stream.WaitForRoomAsync(50, own: 90, () => Assert.Fail("waited for itself"), CancellationToken.None);
    }

    [Fact]
    public async Task WaitForRoom_Cancelled_Throws()
    {
        var stream = Budget(server: 1000, stream: 100).OpenStream();
        stream.Take(100, "pending");
        using var cts = new CancellationTokenSource();
        var room = stream.WaitForRoomAsync(1, 0, () => cts.Cancel(), cts.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => room);
    }
}
