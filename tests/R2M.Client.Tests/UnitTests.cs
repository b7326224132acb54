using System.CommandLine;
using Grpc.Core;
using R2M.Api.V1;
using R2M.Client.Cli;
using R2M.Client.Internal;
using R2M.Client.Training;

namespace R2M.Client.Tests;

public sealed class GroupAdvantagesTests
{
    [Fact]
    public void Grpo_KnownRewards_MatchesHandComputedZScores()
    {
        // mean 2, Bessel std sqrt(((1)^2 + 0 + 1^2) / 2) = 1
        double[] a = GroupAdvantages.Grpo([1, 2, 3], 0);
        Assert.Equal([-1.0, 0.0, 1.0], a.Select(x => Math.Round(x, 12)));
    }

    [Fact]
    public void Grpo_EqualRewards_AllZero()
    {
        Assert.All(GroupAdvantages.Grpo([0.5, 0.5, 0.5, 0.5], 1e-4), x => Assert.Equal(0, x));
    }

    [Fact]
    public void Rloo_KnownRewards_LeaveOneOutBaseline()
    {
        double[] a = GroupAdvantages.Rloo([1, 2, 6]);
        Assert.Equal([1 - 4.0, 2 - 3.5, 6 - 1.5], a);
    }

    [Fact]
    public void Grpo_SingleOrNonFinite_ThrowsNamingTheProblem()
    {
        Assert.Contains("at least 2", Assert.Throws<ArgumentException>(() => GroupAdvantages.Grpo([1], 0)).Message);
        Assert.Contains("reward 1", Assert.Throws<ArgumentException>(() => GroupAdvantages.Rloo([1, double.NaN])).Message);
    }
}

public sealed class VariantsTests
{
    [Theory]
    [InlineData("r2m-without-train", VariantConfig.R2MWithoutTrain)]
    [InlineData("R2M_WITH_NOISE", VariantConfig.R2MWithNoise)]
    [InlineData("VARIANT_CONFIG_VANILLA", VariantConfig.Vanilla)]
    [InlineData(" pretrained-rm ", VariantConfig.PretrainedRm)]
    public void Parse_AcceptedSpellings_MapToEnum(string text, VariantConfig expected) =>
        Assert.Equal(expected, Variants.Parse(text));

    [Fact]
    public void Parse_Unknown_ListsTheChoices()
    {
        var e = Assert.Throws<ArgumentException>(() => Variants.Parse("r3m"));
        Assert.Contains("'r3m'", e.Message);
        Assert.Contains("iterative-rm-head", e.Message);
    }

    [Fact]
    public void All_EightPaperVariants_FrozenOnesSkipUpdate()
    {
        Assert.Equal(8, Variants.All.Count);
        Assert.Equal(["VANILLA", "R2M_WITHOUT_TRAIN", "PRETRAINED_RM"],
            Variants.All.Where(Variants.FreezesRewardModel).Select(Variants.DisplayName));
    }
}

public sealed class SettingsTests
{
    [Fact]
    public void Binder_EverySettingIsAFlag_KebabCase()
    {
        var command = new Command("t");
        _ = new SettingsBinder<TrainSettings>(command, new TrainSettings());
        string[] names = command.Options.Select(o => o.Name).ToArray();
        foreach (var p in ClientCli.SettingProperties<TrainSettings>())
        {
            Assert.Contains("--" + SettingsBinder<TrainSettings>.KebabCase(p.Name), names);
        }

        Assert.Contains("--omega-floor", names);
        Assert.Contains("--max-new-tokens", names);
        Assert.Contains("--rm-lr", names);
    }

    [Fact]
    public void Binder_FlagsOverrideConfigFile_OthersKept()
    {
        string path = Path.Combine(Path.GetTempPath(), $"r2m-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "steps": 7, "omegaFloor": 0.7, "variant": "vanilla", "policyLr": 0.001 }""");
        try
        {
            var command = new Command("t");
            var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings());
            var parse = command.Parse(["--steps", "3", "--alpha", "0.5", "--server-advantages"]);
            Assert.Empty(parse.Errors);
            TrainSettings s = TrainSettings.Load(path);
            binder.Apply(parse, s);
            Assert.Equal(3, s.Steps);
            Assert.Equal(0.5, s.Alpha);
            Assert.True(s.ServerAdvantages);
            Assert.Equal(0.7, s.OmegaFloor);
            Assert.Equal(0.001, s.PolicyLr);
            Assert.Equal(VariantConfig.Vanilla, s.VariantConfig);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void LoadOnto_OnlyPresentKeysOverrideTarget()
    {
        string path = Path.Combine(Path.GetTempPath(), $"r2m-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "k": 8, "topP": 0.9 }""");
        try
        {
            var target = new TrainSettings { Steps = 30, Prompts = 16 };
            TrainSettings.LoadOnto(path, target);
            Assert.Equal(30, target.Steps);
            Assert.Equal(16, target.Prompts);
            Assert.Equal(8, target.K);
            Assert.Equal(0.9, target.TopP);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_UnknownKey_ErrorNamesFileAndKey()
    {
        string path = Path.Combine(Path.GetTempPath(), $"r2m-cfg-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "stepz": 7 }""");
        try
        {
            var e = Assert.Throws<InvalidDataException>(() => TrainSettings.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("stepz", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("--k", "1", "--k = 1")]
    [InlineData("--alpha", "1.5", "--alpha = 1.5")]
    [InlineData("--algorithm", "ppo", "--algorithm 'ppo'")]
    [InlineData("--steps", "x", "--steps 'x' is not a valid integer")]
    public async Task Cli_BadSetting_ExitCode1AndMessageNamesFlag(string flag, string value, string expected)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int rc = await ClientCli.RunAsync(["train", flag, value, "--server", "127.0.0.1:1"], output, error);
        Assert.Equal(1, rc);
        Assert.Contains(expected, error.ToString());
    }

    [Fact]
    public void ClientState_RoundTrip_AndForeignBytesRejected()
    {
        byte[] bytes = ClientState.Encode(new ClientState(17, "R2M-seed1"));
        Assert.Equal(17, ClientState.Decode(bytes, "cp").Step);
        var e = Assert.Throws<InvalidDataException>(() => ClientState.Decode("not json"u8, "cp"));
        Assert.Contains("checkpoint 'cp'", e.Message);
    }

    [Fact]
    public void StepSeed_DiffersPerStepAndSeed_Deterministic()
    {
        Assert.Equal(R2MTrainer.StepSeed(1, 3), R2MTrainer.StepSeed(1, 3));
        Assert.NotEqual(R2MTrainer.StepSeed(1, 3), R2MTrainer.StepSeed(1, 4));
        Assert.NotEqual(R2MTrainer.StepSeed(1, 3), R2MTrainer.StepSeed(2, 3));
    }
}

public sealed class ProgressBarTests
{
    [Fact]
    public void Interactive_RewritesOneLineWithCarriageReturn()
    {
        var w = new StringWriter();
        var bar = new ProgressBar("run", 4, w, interactive: true);
        bar.Phase(0, "step 1: score");
        bar.Step(1, "gold 0.5");
        bar.Step(4, "done");
        string s = w.ToString();
        Assert.Equal(3, s.Count(c => c == '\r'));
        Assert.Contains("[######------------------] 1/4 gold 0.5", s);
        Assert.EndsWith(Environment.NewLine, s);
        Assert.Single(s.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Redirected_PlainLinesPerStep_NoPhases()
    {
        var w = new StringWriter();
        var bar = new ProgressBar("run", 2, w, interactive: false);
        bar.Phase(0, "step 1: score");
        bar.Step(1, "a");
        bar.Step(2, "b");
        Assert.Equal($"run 1/2 a{Environment.NewLine}run 2/2 b{Environment.NewLine}", w.ToString());
        Assert.DoesNotContain('\r', w.ToString());
    }
}

public sealed class RolloutAssemblerTests
{
    [Fact]
    public void Chunks_ConcatenatedInOrder_FieldsFromFirst()
    {
        var a = new RolloutAssembler();
        a.Add(new Rollout
        {
            RolloutId = "b", PromptIndex = 1, ResponseText = " 1", HiddenStatesShape = { 3, 2 }, MoreChunks = true,
            HiddenStates = new Tensor { Dtype = DType.F32, Shape = { 2, 2 }, Data = Google.Protobuf.ByteString.CopyFrom(new byte[16]) },
        });
        a.Add(new Rollout
        {
            RolloutId = "b", ChunkIndex = 1,
            HiddenStates = new Tensor { Dtype = DType.F32, Shape = { 1, 2 }, Data = Google.Protobuf.ByteString.CopyFrom(Enumerable.Repeat((byte)7, 8).ToArray()) },
        });
        a.Add(new Rollout { RolloutId = "a", PromptIndex = 0, ResponseText = " 2" });
        var done = a.Complete();
        Assert.Equal(["a", "b"], done.Select(r => r.RolloutId));
        Rollout b = done[1];
        Assert.Equal(" 1", b.ResponseText);
        Assert.Equal([3L, 2L], b.HiddenStates.Shape);
        Assert.Equal(24, b.HiddenStates.Data.Length);
        Assert.Equal(7, b.HiddenStates.Data[23]);
    }

    [Fact]
    public void StreamEndsInsideRollout_InternalErrorNamesIt()
    {
        var a = new RolloutAssembler();
        a.Add(new Rollout { RolloutId = "x", MoreChunks = true });
        var e = Assert.Throws<RpcException>(() => a.Complete());
        Assert.Equal(StatusCode.Internal, e.StatusCode);
        Assert.Contains("'x'", e.Status.Detail);
    }
}

public sealed class BoolSettingTests
{
    [Fact]
    public void Binder_BoolNotGiven_KeepsDefaultTrue_GivenFalseApplies()
    {
        var command = new Command("t");
        var binder = new SettingsBinder<TrainSettings>(command, new TrainSettings());
        var s = new TrainSettings();
        binder.Apply(command.Parse([]), s);
        Assert.True(s.Plots);
        binder.Apply(command.Parse(["--plots", "false"]), s);
        Assert.False(s.Plots);
        binder.Apply(command.Parse(["--resume"]), s);
        Assert.True(s.Resume);
    }
}
