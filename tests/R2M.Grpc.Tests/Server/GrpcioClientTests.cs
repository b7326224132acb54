using System.Diagnostics;
using System.Text.Json;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>
/// A foreign client (grpcio, C-core) against our server. The full interop matrix lives with the
/// client; this is the server's own check that a real peer sees the statuses and metadata it sends.
/// </summary>
public sealed class GrpcioClientTests
{
    [Fact]
    public async Task GrpcioClient_AllShapesErrorsDeadlinesMetadata_AsSpecified()
    {
        var repo = Peers.RepoRoot;
        var gen = Path.Combine(Path.GetTempPath(), $"r2m-smoke-{Guid.NewGuid():N}");
        Directory.CreateDirectory(gen);
        try
        {
            await RunAsync("/usr/bin/protoc", ["-I", Path.Combine(repo, "tests", "R2M.Grpc.Tests", "Protos"), $"--python_out={gen}", "interop.proto"]);
            await using var server = await InteropTestServer.StartAsync(o => o.MaxReceiveMessageSize = 80 << 20);
            var script = Path.Combine(repo, "tests", "R2M.Grpc.Tests", "Server", "grpcio_smoke.py");

            var output = await RunAsync("/usr/bin/python3", [script, gen, $"127.0.0.1:{server.Address.Port}"]);

            using var json = JsonDocument.Parse(output);
            var r = json.RootElement;
            Assert.Equal("hi", r.GetProperty("echo").GetString());
            Assert.Equal(8 << 20, r.GetProperty("big").GetInt32());
            Assert.Equal(10_000, r.GetProperty("stream_count").GetInt32());
            Assert.Equal("[50,1225]", Compact(r.GetProperty("client_stream")));
            Assert.Equal("[1,2,3,4,5]", Compact(r.GetProperty("bidi")));
            Assert.Equal("NOT_FOUND", r.GetProperty("error")[0].GetString());
            Assert.Equal("gone: 100% \u2713", r.GetProperty("error")[1].GetString());
            Assert.Equal("UNKNOWN", r.GetProperty("exception")[0].GetString());
            Assert.DoesNotContain(InteropTestService.SecretExceptionText, r.GetProperty("exception")[1].GetString());
            Assert.Equal("DEADLINE_EXCEEDED", r.GetProperty("deadline")[0].GetString());
            Assert.Equal("DEADLINE_EXCEEDED", r.GetProperty("deadline_stream")[0].GetString());
            Assert.Equal("UNIMPLEMENTED", r.GetProperty("unknown")[0].GetString());
            Assert.Equal("[[\"x-a\",\"va\"],[\"x-b-bin\",\"00ff10\"]]", Compact(r.GetProperty("initial_md")));
            Assert.Equal("[[\"x-a\",\"va\"],[\"x-b-bin\",\"00ff10\"]]", Compact(r.GetProperty("trailing_md")));
            Assert.Equal(100_000, r.GetProperty("gzip").GetInt32());
            Assert.Equal("CANCELLED", r.GetProperty("cancel")[0].GetString());
            Assert.Equal("ok", r.GetProperty("after_cancel").GetString());
        }
        finally
        {
            Directory.Delete(gen, recursive: true);
        }
    }

    private static string Compact(JsonElement e) => JsonSerializer.Serialize(e).Replace(" ", "", StringComparison.Ordinal);

    private static async Task<string> RunAsync(string file, string[] args)
    {
        if (!File.Exists(file))
        {
            Assert.Fail($"{file} is missing: run scripts/setup.sh (as root) to install the foreign peers.");
        }

        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"{file} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }
}
