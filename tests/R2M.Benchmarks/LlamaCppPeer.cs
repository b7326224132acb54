using System.Diagnostics;
using System.Text.Json.Nodes;
using R2M.Models;
using R2M.Models.Gguf;
using R2M.Tensors;

namespace R2M.Benchmarks;

/// <summary>
/// llama.cpp as the `models` benchmark's peer: the benchmark model is exported to GGUF by our own
/// writer (f32, f16, bf16: <see cref="GgufExport"/>) and run by tools/node/llama_bench.mjs through
/// node-llama-cpp 3.21.1's prebuilt CPU binary (ggml CPU backend, AVX-512 "zen4" variant on this
/// machine). Settings: CPU only, the benchmark's thread count, n_batch = n_ubatch = 512 (llama.cpp's
/// default micro-batch), KV cache f16 (llama.cpp's default; ours is f32), flash attention as given
/// (<see cref="FlashAttention"/>). NODE_LLAMA_CPP_SKIP_DOWNLOAD is set and getLlama is called with
/// build "never" / skipDownload, so nothing is built or downloaded at run time.
/// </summary>
internal static class LlamaCppPeer
{
    /// <summary>llama.cpp flash attention setting used by the benchmark (off: measured faster here on CPU for these shapes, see README).</summary>
    public static bool FlashAttention { get; set; }

    public sealed record Timing(double Wall, double Cpu);

    public sealed record Result(Timing Prefill, Timing Decode, int[][] DecodeTokens);

    /// <summary>Exports the model once per precision, runs the node peer; null (with a printed reason) when it cannot run.</summary>
    public static Dictionary<WeightPrecision, Result>? Run(TransformerModel model, IReadOnlyList<WeightPrecision> precisions, string dir,
        int threads, (int B, int T, int Reps, int[] Tokens) prefill, (int B, int Prompt, int New, int Reps, int[] Tokens) decode)
    {
        var root = RepoRoot();
        var script = Path.Combine(root, "tools", "node", "llama_bench.mjs");
        if (!Directory.Exists(Path.Combine(root, "tools", "node", "node_modules", "node-llama-cpp")))
        {
            Console.WriteLine("llama.cpp peer missing (tools/node/node_modules/node-llama-cpp): run scripts/setup.sh");
            return null;
        }
        var models = new JsonArray();
        foreach (var p in precisions)
        {
            var path = Path.Combine(dir, $"model-{p}.gguf");
            GgufExport.WriteGptNeoX(model, path, p);
            models.Add(new JsonObject { ["name"] = p.ToString(), ["path"] = path });
        }
        var spec = new JsonObject
        {
            ["threads"] = threads, ["flashAttention"] = FlashAttention, ["batchSize"] = 512, ["models"] = models,
            ["prefill"] = new JsonObject { ["batch"] = prefill.B, ["seq"] = prefill.T, ["reps"] = prefill.Reps, ["tokens"] = Ints(prefill.Tokens) },
            ["decode"] = new JsonObject { ["batch"] = decode.B, ["prompt"] = decode.Prompt, ["new"] = decode.New, ["reps"] = decode.Reps, ["tokens"] = Ints(decode.Tokens) },
        };
        var specPath = Path.Combine(dir, "llama-spec.json");
        File.WriteAllText(specPath, spec.ToJsonString());
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(script)! };
        psi.Environment["NODE_LLAMA_CPP_SKIP_DOWNLOAD"] = "true";
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(specPath);
        using var proc = Process.Start(psi)!;
        var err = proc.StandardError.ReadToEndAsync();
        var output = proc.StandardOutput.ReadToEnd();
        proc.WaitForExit();
        if (proc.ExitCode != 0)
        {
            Console.WriteLine($"llama.cpp side failed ({proc.ExitCode}): {err.Result.Trim()}");
            return null;
        }
        var json = JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();
        var results = new Dictionary<WeightPrecision, Result>();
        foreach (var p in precisions)
        {
            var r = json["results"]![p.ToString()]!;
            results[p] = new Result(Time(r["prefill"]!), Time(r["decode"]!),
                r["decode"]!["tokens"]!.AsArray().Select(row => row!.AsArray().Select(t => (int)t!).ToArray()).ToArray());
        }
        return results;
    }

    private static Timing Time(JsonNode n) => new((double)n["wall"]!, (double)n["cpu"]!);

    private static JsonArray Ints(int[] xs) => new(xs.Select(x => (JsonNode)x).ToArray());

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "R2M.Grpc.sln")))
                return d.FullName;
        return Environment.GetEnvironmentVariable("R2M_REPO_ROOT") ?? Directory.GetCurrentDirectory();
    }
}
