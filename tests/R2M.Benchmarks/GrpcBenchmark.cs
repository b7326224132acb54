using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using R2M.Interop.Tests;
using R2M.Server;

namespace R2M.Benchmarks;

/// <summary>
/// gRPC, side by side: Grpc.AspNetCore (Kestrel) hosted by r2m-server's own host configuration
/// (R2MServer.BuildHost: its limits, interceptors, health, reflection) vs the grpcio (asyncio)
/// server of the interop suite (tests/R2M.Interop.Tests/Interop/peers/interop_server.py), both
/// doing the same work (Echo of a small payload; ServerStream of 1 MiB messages) and both driven
/// by the same Grpc.Net.Client client (one channel each, same options). Reports unary round
/// trips/s with p50/p99 latency at 1 and 64 concurrent calls, and streaming MB/s, then
/// Grpc.AspNetCore/grpcio ratios. Both servers run at once and every measurement alternates
/// between them in slices, so a load change on the shared machine hits both alike. Options:
/// --seconds N per measurement (default 5), --quick (1 s), --stream-only (skip the unary
/// measurements), --ours-only, --default-array-pool (Program: leave the shared ArrayPool at the
/// runtime's capacity).
/// </summary>
public sealed class GrpcBenchmark : IBenchmark
{
    private const int MiB = 1024 * 1024;

    public string Name => "grpc";

    public string Description => "gRPC unary round trips/s, p50/p99 latency (1 and 64 concurrent) and 1 MiB streaming MB/s: Grpc.AspNetCore vs grpcio, same Grpc.Net.Client";


    public async Task RunAsync(string[] args)
    {
        var seconds = args.Contains("--quick") ? 1.0 : 5.0;
        var i = Array.IndexOf(args, "--seconds");
        if (i >= 0 && i + 1 < args.Length)
        {
            seconds = double.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
        }

        var duration = TimeSpan.FromSeconds(seconds);
        var streamOnly = args.Contains("--stream-only");
        Console.WriteLine($"  {Environment.ProcessorCount} cores, {seconds:F0} s per measurement and server, in {Rounds} interleaved slices; " +
            $"client: Grpc.Net.Client {System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(GrpcChannel).Assembly)?.InformationalVersion.Split('+')[0]} (HTTP/2 cleartext, loopback)");
        Console.WriteLine($"  GC: LOH threshold {AppContext.GetData("System.GC.LOHThreshold") ?? "default"}, " +
            $"DOTNET_GCgen0size={Environment.GetEnvironmentVariable("DOTNET_GCgen0size") ?? "unset"}; shared ArrayPool " +
            (Program.ArrayPoolRaised ? $"raised to {Environment.GetEnvironmentVariable(R2M.Client.SharedArrayPoolCapacity.EnvironmentVariable)} arrays per core" : "at its default capacity"));
        var targets = new List<Target>();
        try
        {
            if (await StartOursAsync() is not { } ours)
            {
                return;
            }

            targets.Add(new Target("Grpc.AspNetCore (r2m host)", ours.Address, ours.Server));
            if (!args.Contains("--ours-only"))
            {
                if (await StartGrpcioAsync() is not { } peer)
                {
                    return;
                }

                targets.Add(new Target("grpcio (python asyncio)", peer.Address, peer.Server));
            }

            await MeasureAsync(targets, duration, streamOnly);
        }
        finally
        {
            foreach (var t in targets)
            {
                await t.DisposeAsync();
            }
        }

        if (targets.Find(t => t.Label.StartsWith("grpcio", StringComparison.Ordinal)) is { } p)
        {
            var o = targets[0];
            Console.WriteLine($"  ratio Grpc.AspNetCore/grpcio: unary c=1 {o.Unary1.Rps / p.Unary1.Rps:F2}x, unary c=64 {o.Unary64.Rps / p.Unary64.Rps:F2}x, " +
                $"streaming {o.StreamMBps / p.StreamMBps:F2}x  (targets: throughput >= 1.5x, streaming >= 1000 MB/s; Grpc.AspNetCore streams {o.StreamMBps:F0} MB/s)");
        }
    }

    // The machine is shared and its load drifts within seconds, so each measurement is split into
    // slices that alternate between the servers: both see the same load on average.
    private const int Rounds = 3;

    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(2);

    private static async Task MeasureAsync(List<Target> targets, TimeSpan duration, bool streamOnly)
    {
        var slice = duration / Rounds;
        foreach (var t in targets)
        {
            // Connection and JIT. Tiered compilation reaches its final code (tier 1 after the
            // instrumented tier) only after a few seconds under load; a server runs for hours.
            if (!streamOnly)
            {
                await UnaryAsync(t.Client, 1, Warmup, t.Warmup);
                await UnaryAsync(t.Client, 64, Warmup, t.Warmup);
            }

            await StreamAsync(t.Client, Warmup, t.StreamWarmup);
        }

        for (var r = 0; r < Rounds && !streamOnly; r++)
        {
            foreach (var t in targets)
            {
                await UnaryAsync(t.Client, 1, slice, t.Unary1);
            }
        }

        for (var r = 0; r < Rounds && !streamOnly; r++)
        {
            foreach (var t in targets)
            {
                await UnaryAsync(t.Client, 64, slice, t.Unary64);
            }
        }

        for (var r = 0; r < Rounds; r++)
        {
            foreach (var t in targets)
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var (gcs0, pause0, alloc0) = (GC.CollectionCount(0), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes(precise: true));
                await StreamAsync(t.Client, slice, t.Stream);
                t.StreamCpu += Process.GetCurrentProcess().TotalProcessorTime - cpu0;
                t.StreamGcs += GC.CollectionCount(0) - gcs0;
                t.StreamGcPause += GC.GetTotalPauseDuration() - pause0;
                t.StreamAllocated += GC.GetTotalAllocatedBytes(precise: true) - alloc0;
            }
        }

        foreach (var t in targets)
        {
            var (u1, u64) = (t.Unary1, t.Unary64);
            Console.WriteLine($"  {t.Label,-26} unary c=1: {u1.Rps,8:F0}/s p50 {u1.P50Ms:F3} ms p99 {u1.P99Ms:F3} ms | " +
                $"c=64: {u64.Rps,8:F0}/s p50 {u64.P50Ms:F3} ms p99 {u64.P99Ms:F3} ms | stream 1 MiB msgs: {t.StreamMBps,7:F0} MB/s " +
                $"({t.StreamCpu.TotalMilliseconds / (t.Stream.Bytes / 1e6):F2} CPU ms/MB in this process; " +
                $"allocated {(double)t.StreamAllocated / t.Stream.Bytes:F2} B/B, {t.StreamGcs / (t.Stream.Bytes / (double)(1L << 30)):F1} GCs/GiB, GC pauses {100 * t.StreamGcPause.TotalSeconds / t.Stream.Seconds:F1}% of the time)");
        }
    }

    private static async Task UnaryAsync(InteropTest.InteropTestClient client, int concurrency, TimeSpan duration, UnaryStats stats)
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
                await client.EchoAsync(request).ConfigureAwait(false);
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }));
        stats.Seconds += Stopwatch.GetElapsedTime(begin).TotalSeconds;
        foreach (var l in latencies)
        {
            stats.Latencies.AddRange(l);
        }
    }

    private static async Task StreamAsync(InteropTest.InteropTestClient client, TimeSpan duration, StreamStats stats)
    {
        var begin = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(begin) < duration)
        {
            // 64 MiB per call keeps a slice from overrunning by much on a slow, loaded machine.
            using var call = client.ServerStream(new StreamRequest { Count = 64, ResponseSize = MiB });
            while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                stats.Bytes += call.ResponseStream.Current.Payload.Length;
            }
        }

        stats.Seconds += Stopwatch.GetElapsedTime(begin).TotalSeconds;
    }

    private sealed class UnaryStats
    {
        public List<double> Latencies { get; } = [];

        public double Seconds { get; set; }

        public double Rps => Latencies.Count / Seconds;

        public double P50Ms => Percentile(0.50);

        public double P99Ms => Percentile(0.99);

        private double Percentile(double q)
        {
            var sorted = Latencies.Order().ToArray();
            return GrpcBenchmark.Percentile(sorted, q);
        }
    }

    private sealed class StreamStats
    {
        public long Bytes { get; set; }

        public double Seconds { get; set; }
    }

    /// <summary>One server under test, its channel (one per server, same options) and its figures.</summary>
    private sealed class Target(string label, string address, IAsyncDisposable server) : IAsyncDisposable
    {
        public string Label { get; } = label;

        private readonly GrpcChannel _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = 8 * MiB,
            HttpHandler = ClientHandler(),
        });

        public InteropTest.InteropTestClient Client => new(_channel);

        public UnaryStats Warmup { get; } = new();

        public UnaryStats Unary1 { get; } = new();

        public UnaryStats Unary64 { get; } = new();

        public StreamStats Stream { get; } = new();

        public StreamStats StreamWarmup { get; } = new();

        public TimeSpan StreamCpu { get; set; }

        public int StreamGcs { get; set; }

        public long StreamAllocated { get; set; }

        public TimeSpan StreamGcPause { get; set; }

        public double StreamMBps => Stream.Bytes / 1e6 / Stream.Seconds;

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            await server.DisposeAsync();
        }
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    /// <summary>The client's handler exactly as R2MClient builds it.</summary>
    private static SocketsHttpHandler ClientHandler() => R2M.Client.Internal.ClientChannel.CreateHandler();

    private static async Task<(string Address, IAsyncDisposable Server)?> StartOursAsync()
    {
        var app = R2MServer.BuildHost(["--Logging:LogLevel:Default=Warning"], o => (o.Port, o.MaxReceiveMessageBytes, o.MaxSendMessageBytes) = (0, 8 * MiB, 8 * MiB),
            hostModels: false, mapServices: a => a.MapGrpcService<BenchService>());
        await app.StartAsync();
        return ($"http://127.0.0.1:{R2MServer.GetPort(app)}", new HostedApp(app));
    }

    private sealed class HostedApp(WebApplication app) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>Same work as interop_server.py: Echo replies with the payload; ServerStream sends one payload `count` times.</summary>
    private sealed class BenchService : InteropTest.InteropTestBase
    {
        public override Task<EchoReply> Echo(EchoRequest request, ServerCallContext context) =>
            Task.FromResult(new EchoReply { Payload = request.Payload, Received = 1 });

        public override async Task ServerStream(StreamRequest request, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
        {
            var payload = UnsafeByteOperations.UnsafeWrap(new byte[request.ResponseSize]);
            for (var i = 0; i < request.Count; i++)
            {
                await responses.WriteAsync(new EchoReply { Payload = payload, Index = i, Received = 1 }).ConfigureAwait(false);
            }
        }
    }

    private static async Task<(string Address, IAsyncDisposable Server)?> StartGrpcioAsync()
    {
        var script = Path.Combine(FindRepoRoot(), "tests", "R2M.Interop.Tests", "Interop", "peers", "interop_server.py");
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
}
