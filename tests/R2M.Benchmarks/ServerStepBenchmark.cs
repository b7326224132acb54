using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using R2M.Api.V1;

namespace R2M.Benchmarks;

/// <summary>
/// The R2M overhead of the shipped server path (issue 13): GRPO steps over the wire, as r2m-client
/// runs them (Generate n x K with the hidden states kept on the server, Score by id, Optimize by id with
/// group rewards, 2 epochs, beta 0.04), then the R2M part (Update by id: GREBT on the refreshed hidden
/// states, and re-scoring the step's rollouts by id from cached RTEs). Overhead = R2M part / GRPO step,
/// averaged over the steps after the first (JIT warm-up). Client and server share the process.
/// </summary>
internal static class ServerStepBenchmark
{
    public static async Task RunAsync(GrpcChannel channel, int steps, int prompts, int k, int maxNew)
    {
        var policy = new Policy.PolicyClient(channel);
        var rm = new RewardModel.RewardModelClient(channel);
        Console.WriteLine($"GRPO steps through the server: n={prompts} K={k}, up to {maxNew} new tokens, 2 epochs, beta 0.04; {steps} steps, the first not averaged");
        Console.WriteLine("step   grpo_s   gen_s  score_s  optimize_s  update_s  rescore_s  overhead%");
        var fractions = new List<double>();
        for (var s = 0; s < steps; s++)
        {
            var schedule = new Schedule { Step = (ulong)s, TotalSteps = (ulong)steps, OmegaFloor = 0.6f };
            var sw = Stopwatch.StartNew();
            var rollouts = await GenerateAsync(policy, s, prompts, k, maxNew);
            var gen = sw.Elapsed.TotalSeconds;
            var rewards = await ScoreAsync(rm, rollouts, schedule);
            var score = sw.Elapsed.TotalSeconds - gen;
            await OptimizeAsync(policy, rollouts, rewards);
            var optimize = sw.Elapsed.TotalSeconds - gen - score;
            await UpdateAsync(rm, rollouts, rewards, schedule);
            var update = sw.Elapsed.TotalSeconds - gen - score - optimize;
            await ScoreAsync(rm, rollouts, schedule);
            var rescore = sw.Elapsed.TotalSeconds - gen - score - optimize - update;
            double grpo = gen + score + optimize, frac = (update + rescore) / grpo;
            if (s > 0 || steps == 1) fractions.Add(frac);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{s,4} {grpo,8:F3} {gen,7:F3} {score,8:F3} {optimize,11:F3} {update,9:F4} {rescore,10:F4} {100 * frac,9:F2}"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"R2M overhead through the server (Update + re-scoring) / GRPO step (Generate + Score + Optimize): {100 * fractions.Average():F2}% (per step {100 * fractions.Min():F2}-{100 * fractions.Max():F2}%; target < 5%)"));
    }

    private static async Task<List<Rollout>> GenerateAsync(Policy.PolicyClient policy, int step, int prompts, int k, int maxNew)
    {
        var rng = new Random(100 + step);
        var req = new GenerateRequest { SamplesPerPrompt = (uint)k, Sampling = new SamplingParams { MaxNewTokens = (uint)maxNew, Seed = (ulong)(7 + step), Temperature = 0.7f } };
        for (var i = 0; i < prompts; i++)
        {
            req.Prompts.Add(new Prompt { Text = "sort " + string.Join(" ", Enumerable.Range(0, 7).Select(_ => rng.Next(10))) + " =" });
        }

        using var call = policy.Generate(req, deadline: DateTime.UtcNow.AddMinutes(10));
        var list = new List<Rollout>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) list.Add(call.ResponseStream.Current);
        return list;
    }

    private static async Task<Dictionary<string, float>> ScoreAsync(RewardModel.RewardModelClient rm, List<Rollout> rollouts, Schedule schedule)
    {
        using var call = rm.Score(deadline: DateTime.UtcNow.AddMinutes(10));
        var reader = Task.Run(async () =>
        {
            var rewards = new Dictionary<string, float>(StringComparer.Ordinal);
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var r = call.ResponseStream.Current;
                if (r.Error is { } e) throw new InvalidOperationException($"item {r.ItemId}: {e.Message}");
                rewards[r.ItemId] = r.Reward;
            }

            return rewards;
        });
        foreach (var r in rollouts)
        {
            await call.RequestStream.WriteAsync(new ScoreRequest { ItemId = r.RolloutId, RolloutId = r.RolloutId, Options = new ScoreOptions { Variant = VariantConfig.R2M, Schedule = schedule } });
        }

        await call.RequestStream.CompleteAsync();
        return await reader;
    }

    private static async Task OptimizeAsync(Policy.PolicyClient policy, List<Rollout> rollouts, Dictionary<string, float> rewards)
    {
        using var call = policy.Optimize(deadline: DateTime.UtcNow.AddMinutes(10));
        var batch = new PolicyBatch { Config = new OptimizeConfig { Epochs = 2, Beta = 0.04f } };
        batch.Items.AddRange(rollouts.Select(r => new PolicyItem { RolloutId = r.RolloutId, GroupId = $"p{r.PromptIndex}", Reward = rewards[r.RolloutId] }));
        await call.RequestStream.WriteAsync(batch);
        await call.RequestStream.CompleteAsync();
        await call.ResponseAsync;
    }

    private static async Task UpdateAsync(RewardModel.RewardModelClient rm, List<Rollout> rollouts, Dictionary<string, float> rewards, Schedule schedule)
    {
        using var call = rm.Update(deadline: DateTime.UtcNow.AddMinutes(10));
        foreach (var g in rollouts.GroupBy(r => r.PromptIndex))
        {
            var group = new PreferenceGroup { GroupId = $"p{g.Key}", Config = new UpdateConfig { Variant = VariantConfig.R2M, Schedule = schedule } };
            group.Members.AddRange(g.Select(r => new GroupMember { RolloutId = r.RolloutId, AnnotationReward = rewards[r.RolloutId] }));
            await call.RequestStream.WriteAsync(group);
        }

        await call.RequestStream.CompleteAsync();
        await call.ResponseAsync;
    }
}
