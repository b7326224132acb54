using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using R2M.Models;
using R2M.Tensors;

namespace R2M.Benchmarks;

/// <summary>
/// `models`: ours vs PyTorch 1.13 (same random weights via safetensors, same thread count) on
/// prefill tokens/s of a Pythia-160M-shaped GPT-NeoX (batch 4 x 512), one training step
/// (forward + backward + AdamW) of a small GPT-NeoX, and cached greedy decode tokens/s (batch 8).
/// Prints ratios ours/PyTorch and prefill's share of the measured OpenBLAS SGEMM peak; then prefill and
/// decode at f32 / f16 / bf16 weights against llama.cpp on our GGUF export (ModelBenchmark.Precision.cs).
/// Options: --quick (smaller batch/sequence, one repetition), --threads N, --no-llama, --flash-attention.
/// </summary>
public sealed partial class ModelBenchmark : IBenchmark
{
    public string Name => "models";

    public string Description => "transformer prefill / training step / cached decode vs PyTorch 1.13 and llama.cpp at f32/f16/bf16 (--quick, --threads N, --no-llama, --flash-attention)";

    private sealed record Plan(int PrefillB, int PrefillT, int Reps, ModelConfig TrainConfig, int TrainB, int TrainT,
        int DecodeB, int DecodePrompt, int DecodeNew);

    public Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var ti = Array.IndexOf(args, "--threads");
        var threads = Environment.ProcessorCount;
        if (ti >= 0 && (ti + 1 >= args.Length || !int.TryParse(args[ti + 1], out threads) || threads < 1))
        {
            Console.Error.WriteLine("models: --threads needs a positive integer");
            return Task.CompletedTask;
        }
        Gemm.ThreadCount = threads;
        LlamaCppPeer.FlashAttention = args.Contains("--flash-attention");
        var withLlama = !args.Contains("--no-llama");
        var plan = quick
            ? new Plan(1, 128, 1, SmallNeoX(2048, 128, 2), 4, 64, 8, 16, 16)
            : new Plan(4, 512, 3, SmallNeoX(8192, 256, 4), 8, 128, 8, 32, 64);
        var dir = Path.Combine(Path.GetTempPath(), "r2m-models-bench-" + Environment.ProcessId);
        try
        {
            Run(plan, threads, quick, dir, withLlama);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
        return Task.CompletedTask;
    }

    private static void Run(Plan plan, int threads, bool quick, string dir, bool withLlama)
    {
        Console.WriteLine($"threads {threads}, GEMM backend {Gemm.Backend}: large products on {Gemm.BackendFor(2048, 2304, 768)}, "
            + $"skinny (decode) on {Gemm.BackendFor(8, 2304, 768)}, managed kernel {R2M.Tensors.Kernels.GemmMicroKernel.Name}{(quick ? ", quick run" : "")}");
        var peak = SgemmPeak.Measure(threads);
        // The issue defines the yardstick as a large OpenBLAS SGEMM; our managed kernel can beat it on
        // this machine, so the best backend's 2048^3 rate is printed too, and the share against it.
        // Without OpenBLAS, Measure already timed the managed kernel on this product: reuse it.
        var managedPeak = Gemm.OpenBlasAvailable
            ? SgemmPeak.MeasureShape(GemmBackend.Managed, threads, false, false, 2048, 2048, 2048)
            : peak;
        var bestPeak = Math.Max(peak, managedPeak);
        Console.WriteLine($"SGEMM peak (OpenBLAS 2048^3): {peak:F1} GFLOP/s; managed kernel 2048^3: {managedPeak:F1} GFLOP/s");
        var rng = new Random(5);
        var pythia = TransformerModel.Create(Pythia160M());
        pythia.InitializeRandom(1);
        var bigDir = Path.Combine(dir, "pythia160m");
        ModelCheckpoint.Save(pythia, bigDir);
        var small = TransformerModel.Create(plan.TrainConfig);
        small.InitializeRandom(2);
        var smallDir = Path.Combine(dir, "small");
        ModelCheckpoint.Save(small, smallDir);

        int[] Tokens(int n, int vocab) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
        var prefillTokens = Tokens(plan.PrefillB * plan.PrefillT, pythia.Config.VocabSize);
        var trainTokens = Tokens(plan.TrainB * plan.TrainT, small.Config.VocabSize);
        var decodeTokens = Tokens(plan.DecodeB * plan.DecodePrompt, pythia.Config.VocabSize);

        var oursPrefill = BestOf(plan.Reps, () => pythia.Forward(prefillTokens, default, plan.PrefillB, plan.PrefillT));
        var oursTrain = BestOf(plan.Reps, () => TrainStep(small, trainTokens, plan.TrainB, plan.TrainT));
        var (oursDecode, oursDecodeTokens) = Decode(pythia, decodeTokens, plan);

        var spec = new JsonObject
        {
            ["threads"] = threads,
            ["prefill"] = new JsonObject { ["dir"] = bigDir, ["batch"] = plan.PrefillB, ["seq"] = plan.PrefillT, ["reps"] = plan.Reps, ["tokens"] = ToJson(prefillTokens) },
            ["train"] = new JsonObject { ["dir"] = smallDir, ["batch"] = plan.TrainB, ["seq"] = plan.TrainT, ["reps"] = plan.Reps, ["tokens"] = ToJson(trainTokens) },
            ["decode"] = new JsonObject { ["dir"] = bigDir, ["batch"] = plan.DecodeB, ["prompt"] = plan.DecodePrompt, ["new"] = plan.DecodeNew, ["reps"] = Math.Min(plan.Reps, 2), ["tokens"] = ToJson(decodeTokens) },
        };
        var torch = RunTorch(spec, dir);

        var prefillTokensN = (double)plan.PrefillB * plan.PrefillT;
        var prefillFlops = PrefillFlops(pythia.Config, plan.PrefillB, plan.PrefillT);
        Report("prefill", $"Pythia-160M shape, batch {plan.PrefillB} x {plan.PrefillT}", prefillTokensN, oursPrefill, torch, "prefill");
        Console.WriteLine($"  prefill reaches {prefillFlops / oursPrefill.Wall / 1e9:F1} GFLOP/s = {100 * prefillFlops / oursPrefill.Wall / 1e9 / peak:F0}% of the OpenBLAS SGEMM peak, "
            + $"{100 * prefillFlops / oursPrefill.Wall / 1e9 / bestPeak:F0}% of the best backend's");
        var trainTok = (double)plan.TrainB * plan.TrainT;
        Report("training step", $"GPT-NeoX {small.ParameterCount / 1e6:F1}M params, batch {plan.TrainB} x {plan.TrainT}, fwd+bwd+AdamW",
            trainTok, oursTrain, torch, "train");
        var decodeTok = (double)plan.DecodeB * plan.DecodeNew;
        Report("decode", $"Pythia-160M shape, batch {plan.DecodeB}, prompt {plan.DecodePrompt}, {plan.DecodeNew} new tokens, KV cache",
            decodeTok, oursDecode, torch, "decode");
        if (torch?["decode_tokens"] is JsonArray rows)
        {
            var theirs = rows.SelectMany(r => r!.AsArray().Select(x => (int)x!)).ToArray();
            var same = theirs.Zip(oursDecodeTokens).Count(p => p.First == p.Second);
            Console.WriteLine($"  greedy tokens identical to PyTorch's: {same}/{theirs.Length}");
        }
        if (withLlama)
            RunPrecisions(pythia, plan, threads, dir, prefillTokens, decodeTokens, new OursAt(oursPrefill, oursDecode, oursDecodeTokens));
    }

    private static ModelConfig Pythia160M() => new()
    {
        ModelType = "gpt_neox", VocabSize = 50304, HiddenSize = 768, NumLayers = 12, NumHeads = 12, NumKvHeads = 12,
        HeadDim = 64, IntermediateSize = 3072, HiddenAct = "gelu", RotaryPct = 0.25, RopeTheta = 10000,
        MaxPositionEmbeddings = 2048, UseParallelResidual = true, QkvBias = true, OutputProjBias = true, MlpBias = true,
    };

    private static ModelConfig SmallNeoX(int vocab, int hidden, int layers) => Pythia160M() with
    {
        VocabSize = vocab, HiddenSize = hidden, NumLayers = layers, NumHeads = hidden / 64, NumKvHeads = hidden / 64,
        IntermediateSize = 4 * hidden,
    };

    /// <summary>Matmul FLOPs of one forward: projections, full (unmasked) attention GEMMs, LM head.</summary>
    private static double PrefillFlops(ModelConfig c, int b, int t)
    {
        double n = (double)b * t, h = c.HiddenSize;
        var perLayer = 2 * n * (3 * h * h + h * h + 2 * h * c.IntermediateSize) + 4.0 * b * t * t * h;
        return c.NumLayers * perLayer + 2 * n * h * c.VocabSize;
    }

    private static void TrainStep(TransformerModel m, int[] tokens, int b, int t)
    {
        var logp = new float[b * (t - 1)];
        m.ZeroGrad();
        m.LogProbs(tokens, default, b, t, logp, 1f, training: true);
        var d = new float[logp.Length];
        Array.Fill(d, -1f / logp.Length);
        m.BackwardLogProbs(d, default);
        m.AdamWStep(1e-4f);
    }

    /// <summary>Prefill the prompt, then greedy steps with the cache; times the steps only (as the PyTorch side).</summary>
    private static (Timing Best, int[] Tokens) Decode(TransformerModel m, int[] prompt, Plan plan)
    {
        int b = plan.DecodeB, v = m.Config.VocabSize;
        var tokens = new int[b * plan.DecodeNew];
        var best = Timing.Worst;
        for (var rep = 0; rep <= Math.Min(plan.Reps, 2); rep++)
        {
            var cache = m.CreateCache(b, plan.DecodePrompt + plan.DecodeNew);
            var logits = new float[b * v];
            m.ForwardCached(prompt, default, cache, logits);
            var sw = Timer.Start();
            var next = new int[b];
            for (var i = 0; i < plan.DecodeNew; i++)
            {
                for (var r = 0; r < b; r++)
                {
                    next[r] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(r * v, v));
                    tokens[r * plan.DecodeNew + i] = next[r];
                }
                if (i < plan.DecodeNew - 1)
                    m.ForwardCached(next, default, cache, logits);
            }
            if (rep > 0 || plan.Reps == 1)
                best = best.Min(sw.Stop());
        }
        return (best, tokens);
    }

    private static Timing BestOf(int reps, Action run)
    {
        run();
        var best = Timing.Worst;
        for (var i = 0; i < reps; i++)
        {
            var sw = Timer.Start();
            run();
            best = best.Min(sw.Stop());
        }
        return best;
    }

    /// <summary>
    /// Wall-clock seconds and process CPU seconds, each the minimum over repetitions. On a shared
    /// machine the CPU-time ratio is the steadier of the two (the wall clock includes time the
    /// scheduler gave to other processes); on a quiet machine the wall-clock ratio is the figure.
    /// </summary>
    private readonly record struct Timing(double Wall, double Cpu)
    {
        public static Timing Worst => new(double.MaxValue, double.MaxValue);

        public Timing Min(Timing o) => new(Math.Min(Wall, o.Wall), Math.Min(Cpu, o.Cpu));
    }

    private readonly struct Timer
    {
        private readonly long _start;
        private readonly TimeSpan _cpu;

        private Timer(long start, TimeSpan cpu)
        {
            _start = start;
            _cpu = cpu;
        }

        public static Timer Start() => new(Stopwatch.GetTimestamp(), Environment.CpuUsage.TotalTime);

        public Timing Stop() => new(Stopwatch.GetElapsedTime(_start).TotalSeconds, (Environment.CpuUsage.TotalTime - _cpu).TotalSeconds);
    }

    private static void Report(string what, string detail, double work, Timing ours, JsonObject? torch, string key)
    {
        var ourRate = work / ours.Wall;
        if (torch?[key + "_s"] is not { } tw || torch[key + "_cpu_s"] is not { } tc)
        {
            Console.WriteLine($"{what} ({detail}): ours {ourRate:F1} tokens/s, PyTorch unavailable");
            return;
        }
        var theirRate = work / (double)tw;
        Console.WriteLine($"{what} ({detail}): ours {ourRate:F1} tokens/s, PyTorch {theirRate:F1} tokens/s, ratio ours/PyTorch {ourRate / theirRate:F2}x"
            + $" (CPU-time ratio {(double)tc / ours.Cpu:F2}x)");
    }

    private static JsonArray ToJson(int[] xs) => new(xs.Select(x => (JsonNode)x).ToArray());

    private static JsonObject? RunTorch(JsonObject spec, string dir)
    {
        var script = Path.Combine(LlamaCppPeer.RepoRoot(), "tests", "R2M.Models.Tests", "python", "bench_models.py");
        if (!File.Exists("/usr/bin/python3"))
        {
            Console.WriteLine("PyTorch peer missing (/usr/bin/python3): run scripts/setup.sh");
            return null;
        }
        var specPath = Path.Combine(dir, "spec.json");
        File.WriteAllText(specPath, spec.ToJsonString());
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        // Debian's torch runs GEMMs on OpenBLAS's own pthread pool beside ATen's OpenMP pool: cap
        // both at the thread count we use so the comparison is at equal threads.
        var threads = spec["threads"]!.ToString();
        psi.Environment["OPENBLAS_NUM_THREADS"] = threads;
        psi.Environment["OMP_NUM_THREADS"] = threads;
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(specPath);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch side failed ({p.ExitCode}): {err.Result}");
            return null;
        }
        return JsonNode.Parse(output.Trim().Split('\n')[^1]) as JsonObject;
    }
}
