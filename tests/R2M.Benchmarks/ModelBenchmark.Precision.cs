using System.Diagnostics;
using System.Numerics.Tensors;
using R2M.Models;
using R2M.Tensors;

namespace R2M.Benchmarks;

/// <summary>
/// The `models` benchmark's precision section: ours at f32 / f16 / bf16 inference weights
/// (<see cref="TransformerModel.SetInferencePrecision"/>, same random Pythia-160M-shaped weights)
/// against llama.cpp on the GGUF our writer exports at the same precision, prefill and batch-8 decode
/// in one run, with ratios, greedy-token agreement, and decode's share of the memory-bandwidth limit.
/// </summary>
public sealed partial class ModelBenchmark
{
    private static readonly WeightPrecision[] Precisions = [WeightPrecision.F32, WeightPrecision.F16, WeightPrecision.BF16];

    private sealed record OursAt(Timing Prefill, Timing Decode, int[] Tokens);

    private static void RunPrecisions(TransformerModel m, Plan plan, int threads, string dir, int[] prefillTokens, int[] decodeTokens, OursAt f32)
    {
        var ours = new Dictionary<WeightPrecision, OursAt> { [WeightPrecision.F32] = f32 };
        foreach (var p in Precisions.Where(p => p != WeightPrecision.F32))
        {
            m.SetInferencePrecision(p);
            var prefill = BestOf(plan.Reps, () => m.Forward(prefillTokens, default, plan.PrefillB, plan.PrefillT));
            var (decode, tokens) = Decode(m, decodeTokens, plan);
            ours[p] = new OursAt(prefill, decode, tokens);
        }
        m.SetInferencePrecision(WeightPrecision.F32);
        var llama = LlamaCppPeer.Run(m, Precisions, dir, threads, (plan.PrefillB, plan.PrefillT, plan.Reps, prefillTokens),
            (plan.DecodeB, plan.DecodePrompt, plan.DecodeNew, Math.Min(plan.Reps, 2), decodeTokens));
        var (copy, read) = MeasureBandwidth(threads);
        Console.WriteLine($"memory bandwidth ({threads} threads, 256 MiB buffers): copy {copy:F1} GB/s (bytes read + written), read {read:F1} GB/s; "
            + $"llama.cpp: flash attention {(LlamaCppPeer.FlashAttention ? "on" : "off")}, KV cache f16, n_batch = n_ubatch = 512, {threads} threads");
        var prefillWork = (double)plan.PrefillB * plan.PrefillT;
        var decodeWork = (double)plan.DecodeB * plan.DecodeNew;
        foreach (var p in Precisions)
        {
            var o = ours[p];
            var l = llama?[p];
            Side($"prefill {plan.PrefillB} x {plan.PrefillT}, all logits, {p}", prefillWork, o.Prefill, l?.Prefill);
            Side($"decode batch {plan.DecodeB}, {p}", decodeWork, o.Decode, l?.Decode);
            var stepSeconds = o.Decode.Wall / (plan.DecodeNew - 1);
            var bytes = BytesPerStep(m.Config, p, plan);
            Console.WriteLine($"  decode step {stepSeconds * 1e3:F1} ms streams {bytes / 1e6:F0} MB (weights at {p} + KV cache) = {bytes / stepSeconds / 1e9:F1} GB/s "
                + $"= {100 * bytes / stepSeconds / 1e9 / copy:F0}% of the copy bandwidth");
            if (l is not null)
            {
                var theirs = l.DecodeTokens.SelectMany(r => r).ToArray();
                var mine = Enumerable.Range(0, plan.DecodeB).SelectMany(r => o.Tokens.Skip(r * plan.DecodeNew).Take(plan.DecodeNew)).ToArray();
                Console.WriteLine($"  greedy tokens identical to llama.cpp's at {p}: {theirs.Zip(mine).Count(x => x.First == x.Second)}/{theirs.Length}"
                    + $" (first divergence per row: {string.Join(", ", Enumerable.Range(0, plan.DecodeB).Select(r => FirstDivergence(l.DecodeTokens[r], mine.AsSpan(r * plan.DecodeNew, plan.DecodeNew))))})");
            }
        }
    }

    private static string FirstDivergence(int[] theirs, ReadOnlySpan<int> mine)
    {
        for (var i = 0; i < theirs.Length; i++)
            if (theirs[i] != mine[i])
                return i.ToString();
        return "-";
    }

    private static void Side(string what, double work, Timing ours, LlamaCppPeer.Timing? theirs)
    {
        var ourRate = work / ours.Wall;
        if (theirs is null)
        {
            Console.WriteLine($"{what}: ours {ourRate:F1} tokens/s, llama.cpp unavailable");
            return;
        }
        var theirRate = work / theirs.Wall;
        Console.WriteLine($"{what}: ours {ourRate:F1} tokens/s, llama.cpp {theirRate:F1} tokens/s, ratio ours/llama.cpp {ourRate / theirRate:F2}x"
            + $" (CPU-time ratio {theirs.Cpu / ours.Cpu:F2}x)");
    }

    /// <summary>Bytes a decode step reads: every matrix and the LM head at p, plus the f32 KV cache at the mean length.</summary>
    private static double BytesPerStep(ModelConfig c, WeightPrecision p, Plan plan)
    {
        double h = c.HiddenSize, qkv = (c.NumHeads + 2 * c.NumKvHeads) * c.HeadDim;
        var matrices = c.NumLayers * (qkv * h + h * c.NumHeads * c.HeadDim + 2 * h * c.IntermediateSize) + (double)c.VocabSize * h;
        var meanLength = plan.DecodePrompt + plan.DecodeNew / 2.0;
        var kv = c.NumLayers * 2.0 * plan.DecodeB * meanLength * c.NumKvHeads * c.HeadDim * 4;
        return matrices * Precision.Size(p) + kv;
    }

    /// <summary>Best of three: a 256 MiB copy split over the threads (GB/s of bytes read + written), and a 256 MiB sum.</summary>
    private static (double Copy, double Read) MeasureBandwidth(int threads)
    {
        const int n = 64 << 20;
        var src = GC.AllocateUninitializedArray<float>(n);
        var dst = GC.AllocateUninitializedArray<float>(n);
        Array.Fill(src, 1f);
        Array.Fill(dst, 0f);
        int chunk = n / threads;
        double Best(Action<int> part)
        {
            var best = double.MaxValue;
            for (var rep = 0; rep < 4; rep++)
            {
                var sw = Stopwatch.StartNew();
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, part);
                if (rep > 0)
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            return best;
        }
        var copy = Best(t => src.AsSpan(t * chunk, chunk).CopyTo(dst.AsSpan(t * chunk, chunk)));
        var read = Best(t => TensorPrimitives.Sum(src.AsSpan(t * chunk, chunk)));
        return (2.0 * n * 4 / copy / 1e9, (double)n * 4 / read / 1e9);
    }
}
