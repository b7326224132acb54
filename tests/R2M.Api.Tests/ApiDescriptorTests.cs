using Google.Protobuf;
using Google.Protobuf.Reflection;
using R2M.Api.V1;

namespace R2M.Api.Tests;

// The generated r2m.v1 messages: they round-trip through the wire format and the descriptors
// expose exactly the services and call shapes the design promises (docs/product.md "Wire API").
public sealed class ApiDescriptorTests
{
    private static readonly FileDescriptor[] Files =
    [
        TensorReflection.Descriptor, CommonReflection.Descriptor, PolicyReflection.Descriptor,
        RewardModelReflection.Descriptor, AdminReflection.Descriptor,
    ];

    [Fact]
    public void Rollout_RoundTrip_PreservesEveryField()
    {
        var hidden = new Tensor { Dtype = DType.Bf16, Data = ByteString.CopyFrom(1, 2, 3, 4, 5, 6, 7, 8) };
        hidden.Shape.Add([2, 2]);
        var rollout = new Rollout
        {
            RolloutId = "r-42", PromptIndex = 3, SampleIndex = 7, ResponseText = " 1 3 7 9",
            FinishReason = FinishReason.Eos, PolicyVersion = 5, HiddenStates = hidden,
            ChunkIndex = 0, MoreChunks = true,
        };
        rollout.PromptTokenIds.Add([1, 20, 21]);
        rollout.ResponseTokenIds.Add([30, 31, 2]);
        rollout.Logprobs.Add([-0.5f, -1.25f, -0.125f]);
        rollout.HiddenStatesShape.Add([4, 2]);

        byte[] wire = rollout.ToByteArray();
        Rollout back = Rollout.Parser.ParseFrom(wire);

        Assert.Equal(rollout, back);
        Assert.Equal(new long[] { 2, 2 }, back.HiddenStates.Shape);
        Assert.Equal(8, back.HiddenStates.Data.Length);
        Assert.True(back.MoreChunks);
    }

    [Fact]
    public void OptionalFields_Absent_AreDistinguishableFromZero()
    {
        // Proto3 `optional` is how "server default" differs from an explicit 0 (a beta of 0 is
        // a legal setting that disables the KL term).
        var unset = new OptimizeConfig();
        var zero = new OptimizeConfig { Beta = 0f };
        OptimizeConfig unsetBack = OptimizeConfig.Parser.ParseFrom(unset.ToByteArray());
        OptimizeConfig zeroBack = OptimizeConfig.Parser.ParseFrom(zero.ToByteArray());

        Assert.False(unsetBack.HasBeta);
        Assert.True(zeroBack.HasBeta);
        Assert.Equal(0f, zeroBack.Beta);
    }

    [Fact]
    public void ScoreRequest_Oneof_KeepsOnlyTheLastSource()
    {
        var request = new ScoreRequest { ItemId = "a", RolloutId = "r-1" };
        request.Inline = new InlineItem { PromptText = "sort 3 1 =", ResponseText = " 1 3" };

        ScoreRequest back = ScoreRequest.Parser.ParseFrom(request.ToByteArray());

        Assert.Equal(ScoreRequest.SourceOneofCase.Inline, back.SourceCase);
        Assert.Equal(string.Empty, back.RolloutId);
        Assert.Equal(" 1 3", back.Inline.ResponseText);
    }

    [Theory]
    [InlineData("Policy", "Generate", false, true)]
    [InlineData("Policy", "TeacherForce", false, true)]
    [InlineData("Policy", "Optimize", true, false)]
    [InlineData("RewardModel", "Score", true, true)]
    [InlineData("RewardModel", "Update", true, false)]
    [InlineData("Admin", "Info", false, false)]
    [InlineData("Admin", "SaveCheckpoint", false, false)]
    [InlineData("Admin", "LoadCheckpoint", false, false)]
    [InlineData("Admin", "Reset", false, false)]
    public void Descriptors_Method_HasDesignedStreaming(string service, string method, bool clientStreaming, bool serverStreaming)
    {
        MethodDescriptor descriptor = FindMethod(service, method);

        Assert.Equal(clientStreaming, descriptor.IsClientStreaming);
        Assert.Equal(serverStreaming, descriptor.IsServerStreaming);
        Assert.Equal($"r2m.v1.{service}", descriptor.Service.FullName);
    }

    [Fact]
    public void Descriptors_Services_AreExactlyTheDesignedOnes()
    {
        var services = Files.SelectMany(f => f.Services)
            .ToDictionary(s => s.FullName, s => s.Methods.Select(m => m.Name).Order().ToArray());

        Assert.Equal(["r2m.v1.Admin", "r2m.v1.Policy", "r2m.v1.RewardModel"], services.Keys.Order());
        Assert.Equal(["Generate", "Optimize", "TeacherForce"], services["r2m.v1.Policy"]);
        Assert.Equal(["Score", "Update"], services["r2m.v1.RewardModel"]);
        Assert.Equal(["Info", "LoadCheckpoint", "Reset", "SaveCheckpoint"], services["r2m.v1.Admin"]);
    }

    [Fact]
    public void Descriptors_Methods_UseTheDesignedMessages()
    {
        Assert.Equal("r2m.v1.GenerateRequest", FindMethod("Policy", "Generate").InputType.FullName);
        Assert.Equal("r2m.v1.Rollout", FindMethod("Policy", "Generate").OutputType.FullName);
        Assert.Equal("r2m.v1.PolicyBatch", FindMethod("Policy", "Optimize").InputType.FullName);
        Assert.Equal("r2m.v1.ScoreReply", FindMethod("RewardModel", "Score").OutputType.FullName);
        Assert.Equal("r2m.v1.PreferenceGroup", FindMethod("RewardModel", "Update").InputType.FullName);
    }

    [Fact]
    public void VariantConfig_ListsEveryBaselineAndAblation()
    {
        // docs/method.md section 4 has eight configurations; UNSPECIFIED is the ninth value.
        string[] names = Enum.GetNames<VariantConfig>();
        Assert.Equal(
            ["Unspecified", "Vanilla", "R2M", "R2MWithoutTrain", "R2MWithNoise", "IterativeRmHead",
             "R2MWithoutBt", "R2MWithoutGre", "PretrainedRm"],
            names);
    }

    [Fact]
    public void Tensor_Descriptor_DTypesAreF32F16Bf16()
    {
        EnumDescriptor dtype = TensorReflection.Descriptor.EnumTypes.Single(e => e.Name == "DType");
        Assert.Equal(["DTYPE_UNSPECIFIED", "DTYPE_F32", "DTYPE_F16", "DTYPE_BF16"], dtype.Values.Select(v => v.Name));
    }

    private static MethodDescriptor FindMethod(string service, string method)
    {
        ServiceDescriptor? s = Files.SelectMany(f => f.Services).SingleOrDefault(x => x.Name == service);
        Assert.True(s is not null, $"service r2m.v1.{service} missing from the descriptors");
        MethodDescriptor? m = s.FindMethodByName(method);
        Assert.True(m is not null, $"method {service}.{method} missing");
        return m;
    }
}
