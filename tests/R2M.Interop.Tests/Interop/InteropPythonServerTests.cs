namespace R2M.Interop.Tests.Interop;

/// <summary>Grpc.Net.Client (the client r2m-client uses) against the grpcio server (peers/interop_server.py).</summary>
public sealed class InteropPythonServerTests
{
    [Fact]
    public async Task GrpcNetClient_GrpcioServer_AllCasesPass()
    {
        await using var server = await PythonInteropServer.StartAsync();
        var results = await InteropCases.RunAsync(server.Target);
        Peers.AssertAllPassed("Grpc.Net.Client -> grpcio server", results);

        // The handler must have seen the client's cancel (RST_STREAM reached it).
        var seen = await server.WaitForEventAsync(
            e => e.GetProperty("event").GetString() == "cancelled" && e.GetProperty("case").GetString() == "cancel_from_client",
            TimeSpan.FromSeconds(10));
        Assert.True(seen, "the grpcio handler did not observe the client's cancellation of cancel_from_client");
    }
}
