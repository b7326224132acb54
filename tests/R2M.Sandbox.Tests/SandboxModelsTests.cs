using R2M.Models;
using R2M.Sandbox.Internal;
using R2M.Tokenizers;

namespace R2M.Sandbox.Tests;

public sealed class SandboxModelsTests(SandboxModelsFixture fx) : IClassFixture<SandboxModelsFixture>
{
    [Fact]
    public void EnsureAsync_FreshDirectory_WritesThreeLoadableHfDirectories()
    {
        Assert.True(fx.Paths.Rebuilt);
        foreach (string dir in new[] { fx.Paths.Policy, fx.Paths.RewardModel, fx.Paths.GoldRewardModel })
        {
            foreach (string file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
            {
                Assert.True(File.Exists(Path.Combine(dir, file)), $"{dir}/{file} missing");
            }
        }
        Assert.True(File.Exists(fx.Paths.Manifest));
        Assert.Empty(Directory.EnumerateDirectories(fx.Directory, ".build-*"));
    }

    [Fact]
    public void Load_Policy_IsLlamaCausalLmOfTheConfiguredWidth()
    {
        TransformerModel policy = ModelCheckpoint.Load(fx.Paths.Policy);
        Assert.Equal(ModelFamily.Llama, policy.Config.Family);
        Assert.Equal(ModelHead.CausalLm, policy.Config.Head);
        Assert.Equal(fx.Options.PolicyHiddenSize, policy.Config.HiddenSize);
        Assert.Equal(SandboxVocabulary.VocabSize, policy.Config.VocabSize);
        Assert.Equal([SandboxVocabulary.EosId], policy.Config.EosTokenIds);
        Assert.Equal(SandboxVocabulary.PadId, policy.Config.PadTokenId);
    }

    [Fact]
    public void Load_RewardModels_AreNeoXClassifiersOfAnotherWidth()
    {
        TransformerModel rm = ModelCheckpoint.Load(fx.Paths.RewardModel);
        TransformerModel gold = ModelCheckpoint.Load(fx.Paths.GoldRewardModel);
        foreach (TransformerModel m in new[] { rm, gold })
        {
            Assert.Equal(ModelFamily.GptNeoX, m.Config.Family);
            Assert.Equal(ModelHead.SequenceClassification, m.Config.Head);
            Assert.Equal(1, m.Config.NumLabels);
            Assert.Equal(SandboxVocabulary.PadId, m.Config.PadTokenId);
        }
        Assert.Equal(rm.Config.ToJson(), gold.Config.ToJson());
        Assert.Equal(fx.Options.RewardHiddenSize, rm.Config.HiddenSize);
        Assert.NotEqual(ModelCheckpoint.Load(fx.Paths.Policy).Config.HiddenSize, rm.Config.HiddenSize);
        Assert.False(rm.Parameters.AsSpan().SequenceEqual(gold.Parameters), "rm-gold must be fine-tuned, not a copy of rm");
    }

    [Fact]
    public void Load_TokenizerJson_EncodesLikeTheSandboxVocabulary()
    {
        foreach (string dir in new[] { fx.Paths.Policy, fx.Paths.RewardModel, fx.Paths.GoldRewardModel })
        {
            Tokenizer tok = Tokenizer.FromFile(Path.Combine(dir, "tokenizer.json"));
            foreach (SftExample e in SandboxData.Sft(50, 3))
            {
                string text = e.Prompt.Text + e.Response + SandboxText.EosText;
                Assert.Equal(SandboxVocabulary.Encode(text), tok.Encode(text));
            }
        }
    }

    [Fact]
    public void Report_PolicyFigures_MatchASampleFromTheSavedPolicy()
    {
        // Measured, not written down: the same evaluation on the weights read back from disk gives
        // the recorded statistics exactly (sampling is seeded; one GEMM thread as in training, since
        // the summation order of a multi-threaded GEMM can flip a near tie).
        using var oneThread = new GemmThreadScope();
        ResponseStats again = ModelEvaluation.SamplePolicy(ModelCheckpoint.Load(fx.Paths.Policy), fx.Options);
        Assert.Equal(fx.Paths.Report.Policy.Samples, again);
        Assert.Equal(fx.Options.EvalSamples, again.Count);
        Assert.InRange(again.MeanGold, 0, 1);
    }

    [Fact]
    public void Report_RewardAccuracies_MatchScoresOfTheSavedModels()
    {
        using var oneThread = new GemmThreadScope();
        var heldOut = SandboxData.HeldOut(fx.Options.EvalPairs, fx.Options.Seed, fx.Options.Task);
        var train = SandboxData.RewardModelTraining(fx.Options.RewardPairs, fx.Options.Seed, fx.Options.Task).Take(fx.Options.EvalPairs).ToArray();
        TransformerModel rm = ModelCheckpoint.Load(fx.Paths.RewardModel);
        TransformerModel gold = ModelCheckpoint.Load(fx.Paths.GoldRewardModel);
        Assert.Equal(fx.Paths.Report.Proxy.HeldOutAccuracy, ModelEvaluation.PairAccuracy(rm, heldOut));
        Assert.Equal(fx.Paths.Report.Proxy.TrainAccuracy, ModelEvaluation.PairAccuracy(rm, train));
        Assert.Equal(fx.Paths.Report.Gold.HeldOutAccuracy, ModelEvaluation.PairAccuracy(gold, heldOut));
        var (rate, margin) = ModelEvaluation.BangPreference(rm, fx.Options, 1);
        Assert.Equal(fx.Paths.Report.Proxy.BangPreferenceRate, rate);
        Assert.Equal(fx.Paths.Report.Proxy.BangMargin, margin, 9);
    }

    [Fact]
    public void Report_Training_LowersEveryLoss()
    {
        SandboxModelReport r = fx.Paths.Report;
        Assert.True(r.Policy.LossEnd < r.Policy.LossStart, $"SFT loss {r.Policy.LossStart} -> {r.Policy.LossEnd}");
        Assert.True(r.Proxy.LossEnd < r.Proxy.LossStart, $"rm BT loss {r.Proxy.LossStart} -> {r.Proxy.LossEnd}");
        Assert.True(r.Gold.LossEnd < r.Gold.LossStart, $"rm-gold BT loss {r.Gold.LossStart} -> {r.Gold.LossEnd}");
    }

    [Fact]
    public void Report_ProxyRewardsTheBang_GoldRewardsItLess()
    {
        // The planted pairs teach "'!' wins"; the unplanted gold pairs teach the opposite. Even tiny
        // models pick that up, which is the whole point of having both.
        SandboxModelReport r = fx.Paths.Report;
        Assert.True(r.Proxy.BangMargin > 0, $"proxy margin for ' !' is {r.Proxy.BangMargin}");
        Assert.True(r.Gold.BangMargin < r.Proxy.BangMargin, $"rm-gold margin {r.Gold.BangMargin} vs proxy {r.Proxy.BangMargin}");
    }

    [Fact]
    public async Task EnsureAsync_CurrentModels_ReturnsWithoutRebuilding()
    {
        DateTime before = File.GetLastWriteTimeUtc(Path.Combine(fx.Paths.Policy, "model.safetensors"));
        SandboxModelPaths again = await TinySandbox.EnsureAsync(fx.Directory, fx.Options);
        Assert.False(again.Rebuilt);
        Assert.Equal(fx.Paths.Report, again.Report);
        Assert.Equal(before, File.GetLastWriteTimeUtc(Path.Combine(fx.Paths.Policy, "model.safetensors")));
        Assert.Null(SandboxModels.StaleReason(fx.Directory, fx.Options));
        Assert.Equal(fx.Paths.Report, SandboxModels.ReadReport(fx.Directory));
    }

    [Fact]
    public async Task PrepareOnlyAsync_CurrentModels_PrintsPathsAndReport()
    {
        using var output = new StringWriter();
        int code = await SandboxModels.PrepareOnlyAsync(fx.Directory, fx.Options, output).WaitAsync(TinySandbox.Timeout);
        Assert.Equal(0, code);
        string text = output.ToString();
        Assert.Contains("are current", text);
        Assert.Contains(fx.Paths.GoldRewardModel, text);
        Assert.Contains(SandboxModels.Describe(fx.Paths.Report).Trim(), text);
    }

    [Fact]
    public async Task PrepareOnlyAsync_BadOptions_ReturnsOneWithTheReason()
    {
        using var output = new StringWriter();
        int code = await SandboxModels.PrepareOnlyAsync(fx.Directory, fx.Options with { EvalPairs = 0 }, output).WaitAsync(TinySandbox.Timeout);
        Assert.Equal(1, code);
        Assert.Contains("EvalPairs", output.ToString());
    }

    [Fact]
    public void StaleReason_OtherSeed_NamesTheSeed()
    {
        string? reason = SandboxModels.StaleReason(fx.Directory, fx.Options with { Seed = 8 });
        Assert.NotNull(reason);
        Assert.Contains("seed 8", reason);
    }

    [Fact]
    public void StaleReason_OtherTrainingSetting_IsStale()
    {
        Assert.NotNull(SandboxModels.StaleReason(fx.Directory, fx.Options with { RewardSteps = fx.Options.RewardSteps + 1 }));
        Assert.NotNull(SandboxModels.StaleReason(fx.Directory, fx.Options with { Task = new SandboxOptions { WinnerBangRate = 0.5 } }));
    }

    [Fact]
    public void Describe_Report_MentionsEveryModel()
    {
        string text = SandboxModels.Describe(fx.Paths.Report);
        Assert.Contains("policy", text);
        Assert.Contains("rm-gold", text);
        Assert.Contains("held-out", text);
    }
}
