using System.Diagnostics;
using System.Globalization;
using R2M.Alignment;
using R2M.Models;

namespace R2M.Benchmarks;

/// <summary>
/// R2M overhead inside one GRPO step (issue 5, R2M-METHOD.md section 1): the time of the GREBT head
/// update (re-score with refreshed hidden states, loss, backward, AdamW) plus re-scoring the step's
/// groups from cached RTEs, as a fraction of the whole step (generation + scoring + policy update +
/// RM update). The paper calls the overhead negligible; target &lt; 5%.
/// Options: --quick (tiny models), --steps N, --threads N.
/// </summary>
public sealed class AlignmentBenchmark : IBenchmark
{
    public string Name => "alignment";
    public string Description => "R2M head update + re-scoring as a fraction of one GRPO step (small GPT-NeoX policy, Llama RM)";

    public Task RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        int steps = Arg(args, "--steps", quick ? 2 : 4);
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

        var rng = new Random(7);
        var batch = Enumerable.Range(0, prompts).Select(_ => Enumerable.Range(0, promptLen).Select(_ => rng.Next(vocab)).ToArray()).ToList();
        Console.WriteLine($"policy {policyModel.ParameterCount:N0} params (D_p {pHidden}), RM backbone D_rm {rHidden}, head d {d}; n={prompts} K={k} prompt {promptLen} + {maxNew} new; threads {threads}");
        Console.WriteLine("step  total_s   gen_s  score_s  policy_s  rm_update_s  rescore_s  overhead%");
        var fractions = new List<double>();
        for (int s = 0; s < steps; s++)
        {
            var sw = Stopwatch.StartNew();
            var rep = trainer.TrainStep(batch);
            double total = sw.Elapsed.TotalSeconds;
            var items = trainer.Inputs(trainer.LastRollouts);
            var r = new float[items.Count];
            sw.Restart();
            rm.Score(items, trainer.Step, r); // re-scoring from cached RTEs: the head only
            double rescore = sw.Elapsed.TotalSeconds;
            double frac = (rep.RewardUpdateSeconds + rescore) / (total + rescore);
            if (s > 0 || steps == 1) fractions.Add(frac); // step 0 warms the JIT
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s,4} {total,8:F3} {rep.GenerationSeconds,7:F3} {rep.ScoringSeconds,8:F3} {rep.PolicySeconds,9:F3} {rep.RewardUpdateSeconds,12:F4} {rescore,10:F4} {100 * frac,9:F2}"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"R2M overhead (head update + re-scoring) / full GRPO step: {100 * fractions.Average():F2}% (target < 5%)"));
        return Task.CompletedTask;
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
