using System.Diagnostics;
using System.Globalization;
using R2M.Sandbox;
using R2M.Sandbox.Internal;
using R2M.Tensors;

namespace R2M.Benchmarks;

/// <summary>
/// Sandbox model preparation (docs/sandbox.md): the wall and CPU time of a full
/// <see cref="SandboxModels.EnsureAsync(string, SandboxModelOptions?, IProgress{string}?, CancellationToken)"/>
/// with the default options (the demo's first step, budget ~90 s on 2 cores), and the ratio that
/// justifies training with one GEMM thread: the same SFT steps with 1 thread vs
/// Environment.ProcessorCount threads. Options: --quick (100/100/30 steps instead of the defaults,
/// 50 SFT steps for the ratio instead of 200).
/// </summary>
public sealed class SandboxBenchmark : IBenchmark
{
    public string Name => "sandbox";

    public string Description => "sandbox model preparation time; SFT steps with 1 GEMM thread vs all cores";

    public async Task RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        var options = quick ? new SandboxModelOptions { SftSteps = 100, RewardSteps = 100, GoldSteps = 30 } : new SandboxModelOptions();
        string dir = Path.Combine(Path.GetTempPath(), $"r2m-sandbox-bench-{Environment.ProcessId}");
        try
        {
            var (wall, cpu) = await MeasureAsync(() => SandboxModels.EnsureAsync(dir, options, null, TimeProvider.System, force: true, CancellationToken.None));
            SandboxModelReport r = SandboxModels.ReadReport(dir)!;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"prepare ({options.SftSteps}/{options.RewardSteps}/{options.GoldSteps} steps): wall {wall:F1} s, CPU {cpu:F1} s " +
                $"(SFT {r.Policy.Seconds:F1} s, rm {r.Proxy.Seconds:F1} s, rm-gold {r.Gold.Seconds:F1} s); {Environment.ProcessorCount} cores"));
            Console.Write(SandboxModels.Describe(r));
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        int steps = quick ? 50 : 200;
        var sft = options with { SftSteps = steps };
        var data = SandboxData.Sft(sft.SftExamples, sft.Seed, sft.Task);
        int saved = Gemm.ThreadCount;
        try
        {
            var results = new List<(int Threads, double Wall, double Cpu)>();
            foreach (int threads in new[] { 1, Environment.ProcessorCount })
            {
                Gemm.ThreadCount = threads;
                var (wall, cpu) = await MeasureAsync(() => Task.FromResult(PolicySft.Train(PolicySft.Create(sft), data, sft, null, CancellationToken.None)));
                results.Add((threads, wall, cpu));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"SFT {steps} steps, {threads} GEMM thread(s): wall {wall:F2} s, CPU {cpu:F2} s"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ratio {Environment.ProcessorCount} threads / 1 thread: wall {results[1].Wall / results[0].Wall:F2}x, CPU {results[1].Cpu / results[0].Cpu:F2}x"));
        }
        finally
        {
            Gemm.ThreadCount = saved;
        }
    }

    private static async Task<(double Wall, double Cpu)> MeasureAsync<T>(Func<Task<T>> work)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        TimeSpan cpu0 = process.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await work();
        sw.Stop();
        process.Refresh();
        return (sw.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu0).TotalSeconds);
    }
}
