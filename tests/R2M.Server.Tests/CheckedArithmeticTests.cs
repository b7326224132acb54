using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// Proto integers that become sizes, counts or indices: int64 shape products that overflow and
/// uint32/uint64 values that turn negative when cast to signed types are refused with a status
/// naming the field, or (a schedule) clamped as the proto documents, and change nothing.
/// </summary>
public sealed class CheckedArithmeticTests
{
    private static ScoreRequest Inline(string id, Tensor hidden) => new()
    {
        ItemId = id, HiddenStates = hidden,
        Inline = new InlineItem { PromptText = "sort 3 1 2 =", ResponseText = " 1 2 3" },
        Options = new ScoreOptions { Schedule = TestServer.Schedule() },
    };

    private static Tensor Shape(DType dtype, params long[] shape) => new() { Dtype = dtype, Shape = { shape } };

    [Fact]
    public async Task Score_ShapeProductsThatOverflow_RefusedNamingTheShape_NeverScoredWithoutFeedback()
    {
        await using var server = await TestServer.StartAsync();
        var w = TestModels.PolicyWidth;
        // [2^62, 16] x 4 bytes wraps to 0 in int64, [2^58, 16] x 4 as well, and [2^57, 16] x 4 to -2^63:
        // all three match (or fail) an empty or short data field only through the overflow.
        var replies = (await server.ScoreAsync(
        [
            Inline("2^62", Shape(DType.F32, 1L << 62, w)),
            Inline("2^58", Shape(DType.F32, 1L << 58, w)),
            Inline("2^57", Shape(DType.F32, 1L << 57, w)),
            Inline("2^62-f16", Shape(DType.F16, 1L << 62, w)),
            Inline("max", Shape(DType.Bf16, long.MaxValue, w)),
            Inline("many-dims", Shape(DType.F32, [.. Enumerable.Repeat(1L, 100_000)])),
            Inline("good", ScoreInputTests.Hidden(3, w)),
        ])).ToDictionary(r => r.ItemId);

        foreach (var id in new[] { "2^62", "2^58", "2^57", "2^62-f16", "max" })
        {
            var error = replies[id].Error;
            Assert.True(error is not null, $"item {id} was scored: {replies[id]}");
            Assert.Equal((int)StatusCode.ResourceExhausted, error.Code);
            Assert.Contains("R2M:MaxHiddenStateBytesPerItem", error.Message, StringComparison.Ordinal);
            Assert.Contains("shape [", error.Message, StringComparison.Ordinal);
        }

        Assert.Equal((int)StatusCode.InvalidArgument, replies["many-dims"].Error?.Code);
        Assert.True(replies["many-dims"].Error!.Message.Length < 300, "the error message printed every shape entry");
        Assert.Null(replies["good"].Error);
        Assert.True(replies["good"].Omega < 1f);
    }

    [Fact]
    public async Task Update_MemberShapeThatOverflows_RefusedAndRmVersionUnchanged()
    {
        await using var server = await TestServer.StartAsync();
        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() } };
        foreach (var rows in new[] { 1L << 62, 3L })
        {
            group.Members.Add(new GroupMember
            {
                Inline = new InlineItem { PromptText = "sort 1 2 =", ResponseText = " 1 2" },
                HiddenStates = rows == 3 ? ScoreInputTests.Hidden(3, TestModels.PolicyWidth) : Shape(DType.F32, rows, TestModels.PolicyWidth),
            });
        }

        var e = await Assert.ThrowsAsync<RpcException>(() => server.UpdateAsync([group]));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("members[0].hidden_states", e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion);
    }

    [Fact]
    public async Task Generate_Uint32ValuesAboveInt32_RefusedOrCappedNeverNegative()
    {
        await using var server = await TestServer.StartAsync();
        var prompt = new Prompt { Text = "sort 1 2 =" };
        var k = await Assert.ThrowsAsync<RpcException>(() => server.GenerateAsync(new GenerateRequest { Prompts = { prompt }, SamplesPerPrompt = 1u << 31 }));
        Assert.Equal(StatusCode.InvalidArgument, k.StatusCode);
        Assert.Contains("R2M:MaxSamplesPerPrompt", k.Status.Detail, StringComparison.Ordinal);

        // 2^32 - 1 bytes per chunk is capped at half the send limit, not cast to -1 (one row per message).
        var rollouts = await server.GenerateAsync(new GenerateRequest
        {
            Prompts = { prompt }, SamplesPerPrompt = 2, ReturnHiddenStates = true, HiddenStatesChunkBytes = uint.MaxValue,
            Sampling = new SamplingParams { MaxNewTokens = 6, Seed = 3 },
        });
        Assert.Equal(2, rollouts.Count);
        Assert.All(rollouts, r => Assert.Equal(r.HiddenStatesShape[0], r.HiddenStates.Shape[0]));
    }

    [Fact]
    public async Task Optimize_EpochsAboveInt32OrUnknownEnums_RefusedAndPolicyVersionUnchanged()
    {
        await using var server = await TestServer.StartAsync();
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        PolicyBatch Batch(OptimizeConfig c) => new() { Config = c, Items = { new PolicyItem { RolloutId = ids[0], Advantage = 1 }, new PolicyItem { RolloutId = ids[1], Advantage = -1 } } };

        var epochs = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([Batch(new OptimizeConfig { Epochs = 1u << 31 })]));
        Assert.Equal(StatusCode.InvalidArgument, epochs.StatusCode);
        Assert.Contains("config.epochs 2147483648", epochs.Status.Detail, StringComparison.Ordinal);
        var algorithm = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([Batch(new OptimizeConfig { Algorithm = (Algorithm)7 })]));
        Assert.Contains("config.algorithm 7", algorithm.Status.Detail, StringComparison.Ordinal);
        var scaling = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([Batch(new OptimizeConfig { RewardScaling = (RewardScaling)9 })]));
        Assert.Contains("config.reward_scaling 9", scaling.Status.Detail, StringComparison.Ordinal);
        Assert.Equal((ulong)1, (await server.InfoAsync()).PolicyVersion);
    }

    [Fact]
    public async Task Schedule_StepsAbove2To63_ClampedToTAndScored()
    {
        await using var server = await TestServer.StartAsync();
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        var huge = new Schedule { Step = ulong.MaxValue, TotalSteps = 1UL << 63 };
        var score = TestServer.ById("huge", ids[0]);
        score.Options.Schedule = huge;
        var reply = (await server.ScoreAsync([score])).Single();
        Assert.Null(reply.Error);
        Assert.Equal(0.6f, reply.Omega); // t >= T: omega(T) = 0 below the default floor 0.6

        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = huge }, Members = { new GroupMember { RolloutId = ids[0] }, new GroupMember { RolloutId = ids[1] } } };
        var update = await server.UpdateAsync([group]);
        Assert.Equal(0.6f, update.Omega);
    }

    [Fact]
    public async Task Ids_LongerThan128Characters_RefusedNamingTheField()
    {
        await using var server = await TestServer.StartAsync();
        var longId = new string('x', 129);
        var e = await Assert.ThrowsAsync<RpcException>(() => server.ScoreAsync([new ScoreRequest { ItemId = longId, RolloutId = "ro-1" }]));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("item_id has 129 characters", e.Status.Detail, StringComparison.Ordinal);
        var byId = (await server.ScoreAsync([new ScoreRequest { ItemId = "a", RolloutId = longId }])).Single();
        Assert.Equal((int)StatusCode.InvalidArgument, byId.Error?.Code);
        Assert.DoesNotContain(longId, byId.Error!.Message, StringComparison.Ordinal);
        var stop = await Assert.ThrowsAsync<RpcException>(() => server.GenerateAsync(new GenerateRequest
        {
            Prompts = { new Prompt { Text = "sort 1 =" } }, Sampling = new SamplingParams { Stop = { Enumerable.Range(0, 33).Select(i => $"s{i}") } },
        }));
        Assert.Contains("sampling.stop has 33 strings", stop.Status.Detail, StringComparison.Ordinal);
    }
}
