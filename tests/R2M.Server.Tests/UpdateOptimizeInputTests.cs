using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>Generate, Update and Optimize reject bad input with a status naming what was wrong, and change nothing.</summary>
public sealed class UpdateOptimizeInputTests
{
    private static PreferenceGroup Group(string id, IEnumerable<string> rolloutIds, UpdateConfig? config = null)
    {
        var g = new PreferenceGroup { GroupId = id, Config = config ?? new UpdateConfig { Schedule = TestServer.Schedule() } };
        g.Members.AddRange(rolloutIds.Select(r => new GroupMember { RolloutId = r }));
        return g;
    }

    private static async Task<RpcException> Fails(Func<Task> call, StatusCode code, string fragment)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(fragment, e.Status.Detail, StringComparison.Ordinal);
        return e;
    }

    [Fact]
    public async Task Update_BadGroups_ClearStatusesAndRmVersionUnchanged()
    {
        await using var server = await TestServer.StartAsync();
        var ids = (await server.GenerateAsync(prompts: 2, k: 3)).Select(r => r.RolloutId).ToArray();
        await Fails(() => server.UpdateAsync([Group("empty", [])]), StatusCode.InvalidArgument, "group 'empty' has 0 member");
        await Fails(() => server.UpdateAsync([Group("one", ids[..1])]), StatusCode.InvalidArgument, "at least 2");
        await Fails(() => server.UpdateAsync([Group("a", ids[..3]), Group("b", ids[3..5])]), StatusCode.InvalidArgument, "ragged");
        await Fails(() => server.UpdateAsync([Group("a", [ids[0], "ro-missing"])]), StatusCode.NotFound, "ro-missing");
        var nan = Group("nan", ids[..2]);
        nan.Members[0].AnnotationReward = float.NaN;
        nan.Members[1].AnnotationReward = 1;
        await Fails(() => server.UpdateAsync([nan]), StatusCode.InvalidArgument, "NaN");
        var partial = Group("partial", ids[..2]);
        partial.Members[0].AnnotationReward = 1;
        await Fails(() => server.UpdateAsync([partial]), StatusCode.InvalidArgument, "1 of 2 members");
        var wide = Group("wide", []);
        for (var i = 0; i < 2; i++)
        {
            wide.Members.Add(new GroupMember
            {
                Inline = new InlineItem { PromptText = "sort 1 2 =", ResponseText = " 1 2" },
                HiddenStates = ScoreInputTests.Hidden(3, TestModels.PolicyWidth * 2),
            });
        }

        await Fails(() => server.UpdateAsync([wide]), StatusCode.InvalidArgument, "width 32");
        await Fails(() => server.UpdateAsync([Group("v", ids[..2], new UpdateConfig { Variant = VariantConfig.Vanilla })]), StatusCode.FailedPrecondition, "Vanilla");
        await Fails(() => server.UpdateAsync([Group("s", ids[..2], new UpdateConfig())]), StatusCode.InvalidArgument, "total_steps");
        await Fails(() => server.UpdateAsync([new PreferenceGroup { GroupId = "x" }]), StatusCode.InvalidArgument, "config");
        await Fails(() => server.UpdateAsync([Group("a", ids[..2], new UpdateConfig { Schedule = TestServer.Schedule(), Alpha = 2 })]), StatusCode.InvalidArgument, "alpha");
        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion);

        // Ragged groups pass when allowed.
        var cfg = new UpdateConfig { Schedule = TestServer.Schedule(), AllowRaggedGroups = true };
        var ok = await server.UpdateAsync([Group("a", ids[..3], cfg), Group("b", ids[3..5], cfg)]);
        Assert.Equal((ulong)2, ok.RmVersion);
        Assert.Equal((uint)5, ok.Members);
    }

    [Fact]
    public async Task Optimize_BadItems_ClearStatusesAndPolicyUnchanged()
    {
        await using var server = await TestServer.StartAsync();
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        PolicyBatch Batch(params PolicyItem[] items)
        {
            var b = new PolicyBatch { Config = new OptimizeConfig() };
            b.Items.AddRange(items);
            return b;
        }

        await Fails(() => server.OptimizeAsync([Batch(new PolicyItem { RolloutId = "ro-gone", Advantage = 1 })]), StatusCode.NotFound, "ro-gone");
        await Fails(() => server.OptimizeAsync([Batch(new PolicyItem { RolloutId = ids[0], Advantage = float.NaN })]), StatusCode.InvalidArgument, "NaN");
        await Fails(() => server.OptimizeAsync([Batch(new PolicyItem { RolloutId = ids[0], GroupId = "g", Reward = 1 })]), StatusCode.InvalidArgument, "at least 2");
        await Fails(() => server.OptimizeAsync([Batch(new PolicyItem { RolloutId = ids[0], Advantage = 1 }, new PolicyItem { RolloutId = ids[1], Reward = 1 })]), StatusCode.InvalidArgument, "do not mix");
        var outside = new PolicyItem { Inline = new InlineRollout { PromptTokenIds = { 1, 23 }, ResponseTokenIds = { 500 } }, Advantage = 1 };
        await Fails(() => server.OptimizeAsync([Batch(outside)]), StatusCode.InvalidArgument, "500");
        var tooLong = new PolicyItem { Inline = new InlineRollout { PromptTokenIds = { 1 }, ResponseTokenIds = { Enumerable.Repeat(25, TestModels.Context + 5) } }, Advantage = 1 };
        await Fails(() => server.OptimizeAsync([Batch(tooLong)]), StatusCode.InvalidArgument, "context length");
        await Fails(() => server.OptimizeAsync([new PolicyBatch()]), StatusCode.InvalidArgument, "config");
        var badClip = Batch(new PolicyItem { RolloutId = ids[0], Advantage = 1 });
        badClip.Config.ClipEpsilon = 2;
        await Fails(() => server.OptimizeAsync([badClip]), StatusCode.InvalidArgument, "psilon");
        Assert.Equal((ulong)1, (await server.InfoAsync()).PolicyVersion);

        // Inline items without old log-probs train (ratio starts at 1).
        var inline = new PolicyItem { Inline = new InlineRollout { PromptTokenIds = { 1, 23, 27 }, ResponseTokenIds = { 26, 2 } }, Advantage = 1 };
        var ok = await server.OptimizeAsync([Batch(inline, new PolicyItem { RolloutId = ids[0], Advantage = -1 })]);
        Assert.Equal((ulong)2, ok.PolicyVersion);
    }

    [Fact]
    public async Task Generate_BadRequests_InvalidArgumentOrResourceExhausted()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxRolloutsPerGenerate = 8);
        Task Gen(GenerateRequest r) => server.GenerateAsync(r);
        GenerateRequest Req(Prompt p, uint maxNew = 0, uint k = 1) => new() { Prompts = { p }, SamplesPerPrompt = k, Sampling = new SamplingParams { MaxNewTokens = maxNew } };
        await Fails(() => Gen(new GenerateRequest()), StatusCode.InvalidArgument, "prompts is empty");
        await Fails(() => Gen(Req(new Prompt { TokenIds = new TokenIds { Ids = { 1, 77 } } })), StatusCode.InvalidArgument, "77");
        await Fails(() => Gen(Req(new Prompt { TokenIds = new TokenIds { Ids = { Enumerable.Repeat(25, TestModels.Context) } } })), StatusCode.InvalidArgument, "context length");
        await Fails(() => Gen(Req(new Prompt { Text = "sort 1 2 =" }, maxNew: TestModels.Context)), StatusCode.InvalidArgument, "max_new_tokens");
        await Fails(() => Gen(Req(new Prompt { Text = "sort 1 2 =" }, k: 9)), StatusCode.ResourceExhausted, "per-call limit");
        await Fails(() => Gen(Req(new Prompt())), StatusCode.InvalidArgument, "prompts[0] is empty");
        var temp = Req(new Prompt { Text = "sort 1 2 =" });
        temp.Sampling.Temperature = -1;
        await Fails(() => Gen(temp), StatusCode.InvalidArgument, "temperature");

        // A prompt near the context end: the default budget is capped, the response fits.
        var near = Req(new Prompt { TokenIds = new TokenIds { Ids = { Enumerable.Repeat(25, TestModels.Context - 2) } } });
        var r = (await server.GenerateAsync(near)).Single();
        Assert.True(r.ResponseTokenIds.Count <= 2);
    }

    [Fact]
    public async Task Generate_SameSeed_SameTokens_GreedyDeterministic()
    {
        await using var server = await TestServer.StartAsync();
        var a = await server.GenerateAsync(prompts: 2, k: 3);
        var b = await server.GenerateAsync(prompts: 2, k: 3);
        Assert.Equal(a.Select(x => string.Join(",", x.ResponseTokenIds)), b.Select(x => string.Join(",", x.ResponseTokenIds)));
        Assert.All(a, x => Assert.Equal(x.ResponseTokenIds.Count, x.Logprobs.Count));
        Assert.All(a, x => Assert.All(x.Logprobs, lp => Assert.True(lp <= 0)));
        Assert.Equal(6, a.Select(x => x.RolloutId).Distinct().Count());
    }
}
