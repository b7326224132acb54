namespace R2M.Interop.Tests.Interop;

/// <summary>
/// Clients against r2m-server's host (serving InteropTest): Grpc.Net.Client, the grpcio client and
/// the grpc-js client. Each runs the whole case list once and fails listing every failing case;
/// each also checks that the client's mid-stream cancel reached the handler's cancellation token.
/// </summary>
public sealed class InteropOurServerTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task GrpcNetClient_R2MHost_AllCasesPass()
    {
        await using var server = await InteropHost.StartAsync();
        var results = await InteropCases.RunAsync(server.Target);
        Peers.AssertAllPassed("Grpc.Net.Client -> r2m-server host", results);
        await AssertHandlerSawCancelAsync(server);
    }

    [Fact]
    public async Task GrpcioClient_R2MHost_AllCasesPass()
    {
        Peers.RequirePython();
        await using var server = await InteropHost.StartAsync();
        var results = await Peers.RunClientAsync(Peers.Python, "interop_client.py", server.Target, PeerTimeout);
        Peers.AssertAllPassed("grpcio client -> r2m-server host", results);
        await AssertHandlerSawCancelAsync(server);
    }

    [Fact]
    public async Task GrpcJsClient_R2MHost_AllCasesPass()
    {
        Peers.RequireNode();
        await using var server = await InteropHost.StartAsync();
        var results = await Peers.RunClientAsync("node", "interop_client.js", server.Target, PeerTimeout);
        Peers.AssertAllPassed("grpc-js client -> r2m-server host", results);
        await AssertHandlerSawCancelAsync(server);
    }

    private static async Task AssertHandlerSawCancelAsync(InteropHost server) =>
        Assert.True(await server.Observer.WaitForCancelAsync("cancel_from_client", TimeSpan.FromSeconds(10)),
            "the host's handler did not observe the client's cancellation of cancel_from_client");
}
