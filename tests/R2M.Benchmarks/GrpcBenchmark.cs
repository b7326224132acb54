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
/// MB/s, then ours/grpcio ratios. Both servers run at once and every measurement alternates
/// between them in slices, so a load change on the shared machine hits both alike. Options: --seconds N per measurement (default 5), --quick (1 s),
/// --stream-only (skip the unary measurements, for profiling the streaming path), --ours-only.
/// </summary>
public sealed class GrpcBenchmark : IBenchmark
{
    private const int MiB = 1024 * 1024;
    private static readonly ServiceDescriptorHolder Methods = new();

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
        var streamOnly = args.Contains("--stream-only");
        Console.WriteLine($"  {Environment.ProcessorCount} cores, {seconds:F0} s per measurement and server, in {Rounds} interleaved slices; " +
            "client: R2M.Grpc.Client (HTTP/2 cleartext, loopback)");
        Console.WriteLine($"  GC: LOH threshold {AppContext.GetData("System.GC.LOHThreshold") ?? "default"}, " +
            $"DOTNET_GCgen0size={Environment.GetEnvironmentVariable("DOTNET_GCgen0size") ?? "unset"}; shared ArrayPool " +
            (Program.ArrayPoolRaised ? $"raised to {Environment.GetEnvironmentVariable(SharedArrayPoolCapacity.EnvironmentVariable)} arrays per core" : "at its default capacity"));
        var targets = new List<Target>();
        try
        {
            if (await StartOursAsync() is not { } ours)
            {
                return;
            }

            targets.Add(new Target("ours (Kestrel)", ours.Address, ours.Server));
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

        if (targets.Count == 2)
        {
            var (o, p) = (targets[0], targets[1]);
            Console.WriteLine($"  ratio ours/grpcio: unary c=1 {o.Unary1.Rps / p.Unary1.Rps:F2}x, unary c=64 {o.Unary64.Rps / p.Unary64.Rps:F2}x, " +
                $"streaming {o.StreamMBps / p.StreamMBps:F2}x  (targets: throughput >= 1.5x, streaming >= 1000 MB/s; ours streams {o.StreamMBps:F0} MB/s)");
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
                await UnaryAsync(t.Channel, 1, Warmup, t.Warmup);
                await UnaryAsync(t.Channel, 64, Warmup, t.Warmup);
            }

            await StreamAsync(t.Channel, Warmup, t.StreamWarmup);
        }

        for (var r = 0; r < Rounds && !streamOnly; r++)
        {
            foreach (var t in targets)
            {
                await UnaryAsync(t.Channel, 1, slice, t.Unary1);
            }
        }

        for (var r = 0; r < Rounds && !streamOnly; r++)
        {
            foreach (var t in targets)
            {
                await UnaryAsync(t.Channel, 64, slice, t.Unary64);
            }
        }

        for (var r = 0; r < Rounds; r++)
        {
            foreach (var t in targets)
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var (gcs0, pause0, alloc0) = (GC.CollectionCount(0), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes(precise: true));
                await StreamAsync(t.Channel, slice, t.Stream);
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

    private static async Task UnaryAsync(Channel channel, int concurrency, TimeSpan duration, UnaryStats stats)
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
        stats.Seconds += Stopwatch.GetElapsedTime(begin).TotalSeconds;
        foreach (var l in latencies)
        {
            stats.Latencies.AddRange(l);
        }
    }

    private static async Task StreamAsync(Channel channel, TimeSpan duration, StreamStats stats)
    {
        var begin = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(begin) < duration)
        {
            // 64 MiB per call keeps a slice from overrunning by much on a slow, loaded machine.
            using var call = channel.CallInvoker.AsyncServerStreamingCall(Methods.ServerStream,
                new StreamRequest { Count = 64, ResponseSize = MiB });
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

        public Channel Channel { get; } = Channel.ForAddress(address, new ChannelOptions { MaxReceiveMessageSize = 8 * MiB });

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
            Channel.Dispose();
            await server.DisposeAsync();
        }
    }

    private static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    private static async Task<(string Address, IAsyncDisposable Server)?> StartOursAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddR2MGrpc(o => o.MaxReceiveMessageSize = 8 * MiB);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenGrpc(new IPEndPoint(IPAddress.Loopback, 0));
            k.Limits.Http2.InitialConnectionWindowSize = 8 * MiB;
            k.Limits.Http2.InitialStreamWindowSize = 4 * MiB;

            // Kestrel pauses a response writer once 64 KiB are buffered (MaxResponseBufferSize);
            // room for a few 1 MiB messages lets the handler serialize the next message while
            // the previous one is framed and sent (measured ~+10% on 1 MiB streaming here).
            k.Limits.MaxResponseBufferSize = 4 * MiB;
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

    private static async Task<(string Address, IAsyncDisposable Server)?> StartGrpcioAsync()
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
