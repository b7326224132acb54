using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using R2M.Api.V1;
using R2M.Models;
using R2M.Sandbox;
using R2M.Server;

namespace R2M.Benchmarks;

/// <summary>
/// RewardModel.Score throughput of r2m-server (issue 6): items/s with policy feedback by rollout id
/// (hidden states stay on the server; the RM backbone runs once per rollout, first score) vs inline
/// BF16 hidden states on the wire vs the vanilla RM (no feedback), at 1 and 16 concurrent streams
/// over one HTTP/2 connection, in process on loopback. Also re-scoring by id (cached backbone
/// output, the head only). Prints the ratios. Then the R2M overhead of GRPO steps through the server
/// (<see cref="ServerStepBenchmark"/>). Options: --quick (smaller models, fewer items), --items N,
/// --threads N, --steps N (GRPO steps, 0 skips them), --no-score (only the steps).
/// </summary>
public sealed class ServerBenchmark : IBenchmark
{
    public string Name => "server";
    public string Description => "Score items/s: by rollout id vs inline bf16 hidden states vs vanilla RM, 1 and 16 streams; R2M overhead of GRPO steps through the server";

    public async Task RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        var items = Arg(args, "--items", quick ? 64 : 512);
        var steps = Arg(args, "--steps", quick ? 3 : 6);
        R2M.Tensors.Gemm.ThreadCount = Arg(args, "--threads", Environment.ProcessorCount);
        int dp = quick ? 64 : 256, drm = quick ? 48 : 192, layers = quick ? 2 : 4, maxNew = quick ? 16 : 48;
        var dir = Path.Combine(Path.GetTempPath(), $"r2m-bench-server-{Guid.NewGuid():N}");
        try
        {
            MakeModels(dir, dp, drm, layers);
            var app = R2MServer.Build(["--Logging:LogLevel:Default=Warning"], o =>
            {
                (o.PolicyPath, o.RewardModelPath, o.Port, o.AttentionDim) = (Path.Combine(dir, "policy"), Path.Combine(dir, "rm"), 0, quick ? 64 : 256);
                (o.MaxScoreItemsInFlight, o.RolloutStoreBytes, o.MaxRolloutsPerGenerate) = (1 << 16, 4L << 30, 1 << 16);
            });
            await app.StartAsync();
            await R2MServer.LoadedAsync(app);
            try
            {
                using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{R2MServer.GetPort(app)}",
                    new GrpcChannelOptions { MaxReceiveMessageSize = 256 << 20, MaxSendMessageSize = 256 << 20 });
                Console.WriteLine($"policy D_p {dp}, RM D_rm {drm}, {layers} layers each, head d {(quick ? 64 : 256)}; {items} items per run, prompt 16 + up to {maxNew} new tokens; GEMM threads {R2M.Tensors.Gemm.ThreadCount}");
                if (!args.Contains("--no-score")) await RunAllAsync(channel, items, maxNew);
                if (steps > 0) await ServerStepBenchmark.RunAsync(channel, steps, prompts: 4, k: 4, maxNew);
            }
            finally
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    private static async Task RunAllAsync(GrpcChannel channel, int items, int maxNew)
    {
        var rates = new Dictionary<(string Mode, int Streams), double>();
        // Warm-up (JIT, connection, thread pool): every mode once on a separate set of rollouts.
        var warm = await GenerateAsync(channel, Math.Min(items, 64), maxNew);
        await MeasureAsync(channel, 4, warm.Select((r, i) => ById($"w{i}", r.RolloutId)).ToList());
        await MeasureAsync(channel, 4, warm.Select((r, i) => Inline($"x{i}", r, feedback: true)).ToList());
        await MeasureAsync(channel, 4, warm.Select((r, i) => Inline($"y{i}", r, feedback: false)).ToList());
        foreach (var streams in new[] { 1, 16 })
        {
            // Fresh rollouts per concurrency level, so "by id" includes the backbone pass of a first score.
            var rollouts = await GenerateAsync(channel, items, maxNew);
            rates[("by id", streams)] = await MeasureAsync(channel, streams, rollouts.Select((r, i) => ById($"i{i}", r.RolloutId)).ToList());
            rates[("by id, cached RTE", streams)] = await MeasureAsync(channel, streams, rollouts.Select((r, i) => ById($"c{i}", r.RolloutId)).ToList());
            rates[("inline bf16", streams)] = await MeasureAsync(channel, streams, rollouts.Select((r, i) => Inline($"n{i}", r, feedback: true)).ToList());
            rates[("vanilla", streams)] = await MeasureAsync(channel, streams, rollouts.Select((r, i) => Inline($"v{i}", r, feedback: false)).ToList());
        }

        Console.WriteLine("mode                 1 stream items/s   16 streams items/s");
        foreach (var mode in new[] { "by id", "by id, cached RTE", "inline bf16", "vanilla" })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{mode,-20} {rates[(mode, 1)],18:F1} {rates[(mode, 16)],20:F1}"));
        }

        foreach (var s in new[] { 1, 16 })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"ratios at {s,2} stream(s): by id / vanilla {rates[("by id", s)] / rates[("vanilla", s)]:F2}, inline bf16 / vanilla {rates[("inline bf16", s)] / rates[("vanilla", s)]:F2}, by id / inline bf16 {rates[("by id", s)] / rates[("inline bf16", s)]:F2}, cached by id / vanilla {rates[("by id, cached RTE", s)] / rates[("vanilla", s)]:F2}"));
        }

        foreach (var mode in new[] { "by id", "inline bf16", "vanilla" })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"16 / 1 streams, {mode}: {rates[(mode, 16)] / rates[(mode, 1)]:F2}"));
        }
    }

    private static ScoreRequest ById(string id, string rolloutId) => new()
    {
        ItemId = id, RolloutId = rolloutId, Options = new ScoreOptions { Variant = VariantConfig.R2M, Schedule = new Schedule { Step = 5, TotalSteps = 10 } },
    };

    private static ScoreRequest Inline(string id, Rollout r, bool feedback)
    {
        var req = new ScoreRequest
        {
            ItemId = id,
            Inline = new InlineItem { PromptTokenIds = new TokenIds { Ids = { r.PromptTokenIds } }, ResponseTokenIds = new TokenIds { Ids = { r.ResponseTokenIds } } },
            Options = new ScoreOptions { Variant = feedback ? VariantConfig.R2M : VariantConfig.Vanilla, Schedule = new Schedule { Step = 5, TotalSteps = 10 } },
        };
        if (feedback) req.HiddenStates = r.HiddenStates;
        return req;
    }

    /// <summary>Items/s for all requests split round-robin over <paramref name="streams"/> concurrent Score streams.</summary>
    private static async Task<double> MeasureAsync(GrpcChannel channel, int streams, List<ScoreRequest> requests)
    {
        var sw = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, streams).Select(s => ScoreStreamAsync(channel, requests.Where((_, i) => i % streams == s).ToList())).ToList();
        var counts = await Task.WhenAll(tasks);
        var seconds = sw.Elapsed.TotalSeconds;
        if (counts.Sum() != requests.Count) throw new InvalidOperationException($"{counts.Sum()} of {requests.Count} items scored without error");
        return requests.Count / seconds;
    }

    private static async Task<int> ScoreStreamAsync(GrpcChannel channel, List<ScoreRequest> requests)
    {
        using var call = new RewardModel.RewardModelClient(channel).Score(deadline: DateTime.UtcNow.AddMinutes(10));
        var reader = Task.Run(async () =>
        {
            var ok = 0;
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                if (call.ResponseStream.Current.Error is { } e) throw new InvalidOperationException($"item {call.ResponseStream.Current.ItemId}: {e.Message}");
                ok++;
            }

            return ok;
        });
        foreach (var r in requests) await call.RequestStream.WriteAsync(r);
        await call.RequestStream.CompleteAsync();
        return await reader;
    }

    private static async Task<List<Rollout>> GenerateAsync(GrpcChannel channel, int items, int maxNew)
    {
        var rng = new Random(11);
        var req = new GenerateRequest
        {
            SamplesPerPrompt = 4, ReturnHiddenStates = true, HiddenStatesDtype = DType.Bf16, HiddenStatesChunkBytes = 64 << 20,
            Sampling = new SamplingParams { MaxNewTokens = (uint)maxNew, Seed = 3 },
        };
        for (var i = 0; i < (items + 3) / 4; i++)
        {
            req.Prompts.Add(new Prompt { Text = "sort " + string.Join(" ", Enumerable.Range(0, 7).Select(_ => rng.Next(10))) + " =" });
        }

        using var call = new Policy.PolicyClient(channel).Generate(req, deadline: DateTime.UtcNow.AddMinutes(10));
        var list = new List<Rollout>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) list.Add(call.ResponseStream.Current);
        return list.Take(items).ToList();
    }

    /// <summary>A GPT-NeoX policy and a Llama sequence-classification RM (random weights) with the sandbox tokenizer.</summary>
    private static void MakeModels(string dir, int dp, int drm, int layers)
    {
        var v = SandboxVocabulary.VocabSize;
        var policy = TransformerModel.Create(ModelConfig.Parse(
            $$"""{"model_type":"gpt_neox","vocab_size":{{v}},"hidden_size":{{dp}},"num_hidden_layers":{{layers}},"num_attention_heads":4,"intermediate_size":{{4 * dp}},"rotary_pct":0.25,"use_parallel_residual":true,"bos_token_id":1,"eos_token_id":2,"max_position_embeddings":256}"""));
        policy.InitializeRandom(1, 0.05f);
        var rm = TransformerModel.Create(ModelConfig.Parse(
            $$"""{"model_type":"llama","architectures":["LlamaForSequenceClassification"],"num_labels":1,"vocab_size":{{v}},"hidden_size":{{drm}},"num_hidden_layers":{{layers}},"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":{{3 * drm}},"hidden_act":"silu","bos_token_id":1,"eos_token_id":2,"pad_token_id":0,"max_position_embeddings":256}"""));
        rm.InitializeRandom(2, 0.05f);
        foreach (var (model, name) in new[] { (policy, "policy"), (rm, "rm") })
        {
            ModelCheckpoint.Save(model, Path.Combine(dir, name));
            SandboxVocabulary.WriteTokenizerFiles(Path.Combine(dir, name));
        }
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) ? v : fallback;
    }
}
