using R2M.Api.V1;

namespace R2M.Server.Tests;

public sealed class InfoTests
{
    [Fact]
    public async Task Info_WaitForWrites_AnswersOnlyOnceTheRunningWriteReleasesTheGate()
    {
        await using var server = await TestServer.StartAsync();
        var gate = server.Get<Internal.WriteGate>();
        var release = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Stands for an Optimize/Update in flight: it holds the write gate until released.
        var write = gate.RunAsync(() =>
        {
            holding.SetResult();
            return release.Task;
        }, CancellationToken.None);
        await holding.Task.WaitAsync(TestServer.Timeout);
        Task<InfoReply> waiting;
        try
        {
            waiting = server.InfoAsync(new InfoRequest { WaitForWrites = true });
            var plain = await server.InfoAsync(); // a plain Info does not wait

            // Bounded wait for a negative: the waiting call must still be parked on the gate.
            await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromMilliseconds(500)));
            Assert.False(waiting.IsCompleted);
            Assert.Equal(server.Get<Internal.PolicyHost>().Version, plain.PolicyVersion);
        }
        finally
        {
            release.SetResult(true);
        }

        await write.WaitAsync(TestServer.Timeout);
        var reply = await waiting.WaitAsync(TestServer.Timeout);
        Assert.Equal(server.Get<Internal.RewardHost>().Version, reply.RmVersion);
        // Passed through the gate, did not keep it: another write runs at once.
        Assert.True(await gate.RunAsync(() => Task.FromResult(true), CancellationToken.None).WaitAsync(TestServer.Timeout));
    }
}
