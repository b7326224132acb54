using R2M.Api.V1;

namespace R2M.Server.Tests;

public sealed class InfoTests
{
    [Fact]
    public async Task Info_WaitForWrites_AnswersOnlyOnceTheRunningWriteReleasesTheGate()
    {
        await using var server = await TestServer.StartAsync();
        var gate = server.State.AdminGate;
        await gate.WaitAsync(TestServer.Timeout); // stands for an Optimize/Update in flight
        Task<InfoReply> waiting;
        try
        {
            waiting = server.InfoAsync(new InfoRequest { WaitForWrites = true });
            var plain = await server.InfoAsync(); // a plain Info does not wait

            // Bounded wait for a negative: the waiting call must still be parked on the gate.
            await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromMilliseconds(500)));
            Assert.False(waiting.IsCompleted);
            Assert.Equal(server.State.PolicyVersion, plain.PolicyVersion);
        }
        finally
        {
            gate.Release();
        }

        var reply = await waiting.WaitAsync(TestServer.Timeout);
        Assert.Equal(server.State.RmVersion, reply.RmVersion);
        Assert.Equal(1, gate.CurrentCount); // passed through the gate, did not keep it
    }
}
