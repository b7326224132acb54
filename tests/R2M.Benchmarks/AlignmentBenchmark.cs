using System.Diagnostics;
using System.Globalization;
using R2M.Alignment;
using R2M.Models;

namespace R2M.Benchmarks;

/// <summary>
/// R2M overhead inside one GRPO step (issue 5, docs/method.md section 1): the time of the GREBT head
/// update (re-score with refreshed hidden states, loss, backward, AdamW) plus re-scoring the step's
/// groups with the updated head from cached RTEs, as a fraction of the GRPO step itself (generation +
/// scoring + policy update, the RM's backbone included in scoring). The paper calls the overhead
/// negligible; target &lt; 5%. Step 0 warms the JIT and is not averaged.
/// Options: --quick (tiny models), --steps N, --threads N.
/// </summary>
public sealed class AlignmentBenchmark : IBenchmark
{
    public string Name => "alignment";
    public string Description => "R2M head update + re-scoring as a fraction of one GRPO step (small GPT-NeoX policy, Llama RM)";

    public Task RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        int steps = Arg(args, "--steps", quick ? 3 : 4);
        int threads = Arg(args, "--threads", Environment.ProcessorCount);
        R2M.Tensors.Gemm.ThreadCount = threads;
        int pHidden = quick ? 64 : 256, pLayers = quick ? 2 : 4, rHidden = quick ? 48 : 192, vocab = quick ? 256 : 1024;
        int prompts = 4, k = 4, promptLen = 16, maxNew = quick ? 16 : 48, d = quick ? 64 : 256;

        var policyModel = Build($$"""{"model_type":"gpt_neox","vocab_size":{{vocab}},"hidden_size":{{pHidden}},"num_hidden_layers":{{pLayers}},"num_attention_heads":4,"intermediate_size":{{4 * pHidden}},"rotary_pct":0.25,"use_parallel_residual":true,"max_position_embeddings":256}""", 1);
        var refModel = Build($$"""{"model_type":"gpt_neox","vocab_size":{{vocab}},"hidden_size":{{pHidden}},"num_hidden_layers":{{pLayers}},"num_attention_heads":4,"intermediate_size":{{4 * pHidden}},"rotary_pct":0.25,"use_parallel_residual":true,"max_position_embeddings":256}""", 1);
        var rmModel = Build($$"""{"model_type":"llama","architectures":["LlamaForSequenceClassification"],"num_labels":1,"vocab_size":{{vocab}},"hidden_size":{{rHidden}},"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":{{3 * rHidden}},"hidden_act":"silu","max_position_embeddings":256}""", 2);
        var rte = new TransformerRteSource(rmModel);
        var (w, b, hasBias) = rte.ScoringHead();
        var head = new R2MHead(new R2MHeadConfig(rHidden, pHidden, d, PhiBias: hasBias));
        head.Initialize(w, b, seed: 3);
        var rm = new R2MRewardModel(head, new RewardModelOptions(AlignmentVariant.R2M, TotalSteps: steps, OmegaFloor: 0.6f));
        var policy = new PolicyOptimizer(new TransformerPolicy(policyModel, eosTokenIds: []),
            new PolicyOptimizerOptions(Epochs: 2, Temperature: 0.7f, Loss: new PolicyLossOptions(Beta: 0.04f)));
        var trainer = new R2MTrainer(policy, new TransformerPolicy(refModel, eosTokenIds: []), rte, rm, new TrainerOptions(GroupSize: k, MaxNewTokens: maxNew, Seed: 5));

        WarmHeadCode(head.Config, prompts * k, promptLen + maxNew - 1, k);
        var rng = new Random(7);
        var batch = Enumerable.Range(0, prompts).Select(_ => Enumerable.Range(0, promptLen).Select(_ => rng.Next(vocab)).ToArray()).ToList();
        Console.WriteLine($"policy {policyModel.ParameterCount:N0} params (D_p {pHidden}), RM backbone D_rm {rHidden}, head d {d}; n={prompts} K={k} prompt {promptLen} + {maxNew} new; threads {threads}");
        Console.WriteLine("step   grpo_s   gen_s  score_s  policy_s  rm_update_s  rescore_s  overhead%");
        var fractions = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            var rep = trainer.TrainStep(batch);
            var items = trainer.Inputs(trainer.LastRollouts); // RTEs from the cache: no backbone run
            var r = new float[items.Count];
            var sw = Stopwatch.StartNew();
            rm.Score(items, trainer.Step, r); // re-scoring the step's groups with the updated head
            double rescore = sw.Elapsed.TotalSeconds;
            double grpo = rep.GenerationSeconds + rep.ScoringSeconds + rep.PolicySeconds;
            double frac = (rep.RewardUpdateSeconds + rescore) / grpo;
            if (s > 0 || steps == 1) fractions.Add(frac);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s,4} {grpo,8:F3} {rep.GenerationSeconds,7:F3} {rep.ScoringSeconds,8:F3} {rep.PolicySeconds,9:F3} {rep.RewardUpdateSeconds,12:F4} {rescore,10:F4} {100 * frac,9:F2}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"R2M overhead (head update + re-scoring) / GRPO step (generation + scoring + policy update): {100 * fractions.Average():F2}% (target < 5%)"));
        return Task.CompletedTask;
    }

    /// <summary>
    /// Runs the head's update and scoring paths on a throwaway model of the same shape until the JIT
    /// has promoted them (tiered compilation works per method, not per instance). In a real run the
    /// head is called every step for hundreds of steps, so its steady state is what matters; the
    /// policy's code is called many times within each step and warms up on its own.
    /// </summary>
    private static void WarmHeadCode(R2MHeadConfig config, int items, int rows, int k)
    {
        var rng = new Random(11);
        float[] Rand(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5))];
        var head = new R2MHead(config);
        head.Initialize(Rand(config.RmDim), 0f, seed: 1);
        var rm = new R2MRewardModel(head, new RewardModelOptions(AlignmentVariant.R2M, TotalSteps: 2));
        var batch = Enumerable.Range(0, items).Select(_ => new RewardInput(Rand(config.RmDim), Rand(rows * config.PolicyDim), rows)).ToList();
        var annotation = Rand(items);
        var rewards = new float[items];
        for (int i = 0; i < 200; i++)
        {
            rm.Update(batch, annotation, k, 1);
            rm.Score(batch, 1, rewards);
        }
    }

    private static TransformerModel Build(string json, int seed)
    {
        var m = TransformerModel.Create(ModelConfig.Parse(json));
        m.InitializeRandom(seed);
        return m;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) ? v : fallback;
    }
}
