using System.Diagnostics;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using R2M.Grpc;
using R2M.Grpc.Client;
using R2M.Grpc.Tests.Interop;

namespace R2M.Benchmarks;

/// <summary>
/// gRPC transport, side by side: our Kestrel server vs the grpcio (asyncio) server of the interop
/// suite (tests/R2M.Grpc.Tests/Interop/peers/interop_server.py), both doing the same work (Echo of a
/// small payload; ServerStream of 1 MiB messages) and both driven by the same client (ours).
/// Reports unary round trips/s with p50/p99 latency at 1 and 64 concurrent calls, and streaming
/// MB/s, then ours/grpcio ratios. Options: --seconds N per measurement (default 5), --quick (1 s),
/// --stream-only (skip the unary measurements, for profiling the streaming path), --ours-only.
/// </summary>
public sealed class GrpcBenchmark : IBenchmark
{
    private const int MiB = 1024 * 1024;
    private static readonly ServiceDescriptorHolder Methods = new();
    private static bool _streamOnly;

    public string Name => "grpc";

    public string Description => "gRPC unary round trips/s, p50/p99 latency (1 and 64 concurrent) and 1 MiB streaming MB/s: our server vs grpcio, same client";

    public async Task RunAsync(string[] args)
    {
        var seconds = args.Contains("--quick") ? 1.0 : 5.0;
        var i = Array.IndexOf(args, "--seconds");
        if (i >= 0 && i + 1 < args.Length)
        {
            seconds = double.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
        }

        var duration = TimeSpan.FromSeconds(seconds);
        _streamOnly = args.Contains("--stream-only");
        Console.WriteLine($"  {Environment.ProcessorCount} cores, {seconds:F0} s per measurement; client: R2M.Grpc.Client (HTTP/2 cleartext, loopback)");
        var ours = await MeasureAsync("ours (Kestrel)", StartOursAsync, duration);
        if (args.Contains("--ours-only"))
        {
            return;
        }

        var peer = await MeasureAsync("grpcio (python asyncio)", StartGrpcioAsync, duration);
        if (ours is null || peer is null)
        {
            return;
        }

        Console.WriteLine($"  ratio ours/grpcio: unary c=1 {ours.Unary1.Rps / peer.Unary1.Rps:F2}x, unary c=64 {ours.Unary64.Rps / peer.Unary64.Rps:F2}x, " +
            $"streaming {ours.StreamMBps / peer.StreamMBps:F2}x  (targets: throughput >= 1.5x, streaming >= 1000 MB/s; ours streams {ours.StreamMBps:F0} MB/s)");
    }

    private sealed record UnaryResult(double Rps, double P50Ms, double P99Ms);

    private sealed record Result(UnaryResult Unary1, UnaryResult Unary64, double StreamMBps);

    private static async Task<Result?> MeasureAsync(string label, Func<Task<(string Address, IAsyncDisposable Server)?>> start, TimeSpan duration)
    {
        var started = await start();
        if (started is not { } s)
        {
            return null;
        }

        await using var server = s.Server;
        using var channel = Channel.ForAddress(s.Address, new ChannelOptions { MaxReceiveMessageSize = 8 * MiB });
        await UnaryAsync(channel, 1, TimeSpan.FromMilliseconds(300)); // warm-up: connection, JIT
        var skip = TimeSpan.FromMilliseconds(_streamOnly ? 1 : duration.TotalMilliseconds);
        var u1 = await UnaryAsync(channel, 1, skip);
        var u64 = await UnaryAsync(channel, 64, skip);
        await StreamAsync(channel, TimeSpan.FromMilliseconds(300));
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var (mbps, megabytes) = await StreamAsync(channel, duration);
        var cpuPerMb = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / megabytes;
        Console.WriteLine($"  {label,-26} unary c=1: {u1.Rps,8:F0}/s p50 {u1.P50Ms:F3} ms p99 {u1.P99Ms:F3} ms | " +
            $"c=64: {u64.Rps,8:F0}/s p50 {u64.P50Ms:F3} ms p99 {u64.P99Ms:F3} ms | stream 1 MiB msgs: {mbps,7:F0} MB/s " +
            $"({cpuPerMb:F2} CPU ms/MB in this process)");
        return new Result(u1, u64, mbps);
    }

    private static async Task<UnaryResult> UnaryAsync(Channel channel, int concurrency, TimeSpan duration)
    {
        var request = new EchoRequest { Payload = ByteString.CopyFrom(new byte[100]) };
        var latencies = new List<double>[concurrency];
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var begin = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async w =>
        {
            var mine = latencies[w] = new List<double>(1 << 14);
            while (Stopwatch.GetTimestamp() < stopAt)
            {
                var t0 = Stopwatch.GetTimestamp();
                await channel.UnaryAsync(Methods.Echo, request).ConfigureAwait(false);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }));
        var elapsed = Stopwatch.GetElapsedTime(begin).TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new UnaryResult(all.Length / elapsed, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    // Also returns the megabytes moved, for the CPU cost per MB (this machine's load varies, CPU time less so).
    private static async Task<(double MBps, double Megabytes)> StreamAsync(Channel channel, TimeSpan duration)
    {
        long bytes = 0;
        var begin = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(begin) < duration)
        {
            using var call = channel.CallInvoker.AsyncServerStreamingCall(Methods.ServerStream,
                new StreamRequest { Count = 256, ResponseSize = MiB });
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                bytes += call.ResponseStream.Current.Payload.Length;
            }
        }

        return (bytes / 1e6 / Stopwatch.GetElapsedTime(begin).TotalSeconds, bytes / 1e6);
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    private static async Task<(string, IAsyncDisposable)?> StartOursAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddR2MGrpc(o => o.MaxReceiveMessageSize = 8 * MiB);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenGrpc(new IPEndPoint(IPAddress.Loopback, 0));
            k.Limits.Http2.InitialConnectionWindowSize = 8 * MiB;
            k.Limits.Http2.InitialStreamWindowSize = 4 * MiB;
        });
        var app = builder.Build();
        app.MapGrpcService(new GrpcServiceDefinition(Methods.Service)
            .AddUnary<EchoRequest, EchoReply>("Echo", (r, _) => Task.FromResult(new EchoReply { Payload = r.Payload, Received = 1 }))
            .AddServerStreaming<StreamRequest, EchoReply>("ServerStream", ServerStreamAsync));
        await app.StartAsync();
        return (app.Urls.First(), app);
    }

    // Same work as interop_server.py's ServerStream: one payload per call, `count` replies.
    private static async Task ServerStreamAsync(StreamRequest request, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        var payload = UnsafeByteOperations.UnsafeWrap(new byte[request.ResponseSize]);
        for (var i = 0; i < request.Count; i++)
        {
            await responses.WriteAsync(new EchoReply { Payload = payload, Index = i, Received = 1 }).ConfigureAwait(false);
        }
    }

    private static async Task<(string, IAsyncDisposable)?> StartGrpcioAsync()
    {
        var script = Path.Combine(FindRepoRoot(), "tests", "R2M.Grpc.Tests", "Interop", "peers", "interop_server.py");
        if (!File.Exists("/usr/bin/python3") || !File.Exists(script))
        {
            Console.WriteLine($"  grpcio server unavailable ({script} or /usr/bin/python3 missing): run scripts/setup.sh");
            return null;
        }

        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.Environment.Remove("PYTHONPATH");
        var process = Process.Start(psi)!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.Contains("\"port\"", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            Console.WriteLine($"  grpcio server did not start (got '{line}'): run scripts/setup.sh");
            return null;
        }

        var port = int.Parse(line.Split(':')[1].Trim(' ', '}'), System.Globalization.CultureInfo.InvariantCulture);
        _ = process.StandardOutput.ReadToEndAsync();
        return ($"http://127.0.0.1:{port}", new ChildProcess(process));
    }

    private static string FindRepoRoot()
    {
        var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }

    private sealed class ChildProcess(Process process) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            process.StandardInput.Close(); // the peer serves until its stdin closes
            try
            {
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    private sealed class ServiceDescriptorHolder
    {
        public Google.Protobuf.Reflection.ServiceDescriptor Service { get; } = InteropReflection.Descriptor.Services[0];

        public Method<EchoRequest, EchoReply> Echo => Method<EchoRequest, EchoReply>.FromDescriptor(Service.FindMethodByName("Echo"));

        public Method<StreamRequest, EchoReply> ServerStream => Method<StreamRequest, EchoReply>.FromDescriptor(Service.FindMethodByName("ServerStream"));
    }
}
