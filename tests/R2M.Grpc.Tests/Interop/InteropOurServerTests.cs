namespace R2M.Grpc.Tests.Interop;

/// <summary>
/// Pairings against our server: (1) our client, (2) the grpcio client, (4) the grpc-js client.
/// Each runs the whole case list once and fails listing every failing case; each also checks that
/// the client's mid-stream cancel reached our handler's cancellation token.
/// </summary>
public sealed class InteropOurServerTests
{
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task OurClient_OurServer_AllCasesPass()
    {
        await using var server = await OurInteropServer.StartAsync();
        var results = await InteropCases.RunAsync(server.Target);
        Peers.AssertAllPassed("our client -> our server", results);
        await AssertHandlerSawCancelAsync(server);
    }

    [Fact]
    public async Task GrpcioClient_OurServer_AllCasesPass()
    {
        Peers.RequirePython();
        await using var server = await OurInteropServer.StartAsync();
        var results = await Peers.RunClientAsync(Peers.Python, "interop_client.py", server.Target, PeerTimeout);
        Peers.AssertAllPassed("grpcio client -> our server", results);
        await AssertHandlerSawCancelAsync(server);
    }

    [Fact]
    public async Task GrpcJsClient_OurServer_AllCasesPass()
    {
        Peers.RequireNode();
        await using var server = await OurInteropServer.StartAsync();
        var results = await Peers.RunClientAsync("node", "interop_client.js", server.Target, PeerTimeout);
        Peers.AssertAllPassed("grpc-js client -> our server", results);
        await AssertHandlerSawCancelAsync(server);
    }

    private static async Task AssertHandlerSawCancelAsync(OurInteropServer server) =>
        Assert.True(await server.Observer.WaitForCancelAsync("cancel_from_client", TimeSpan.FromSeconds(10)),
            "our server's handler did not observe the client's cancellation of cancel_from_client");
}
