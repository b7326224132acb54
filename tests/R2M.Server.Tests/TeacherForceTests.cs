using Grpc.Core;
using R2M.Api.V1;
using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>Policy.TeacherForce: the same tensors as a sampled rollout, kept in the store for Score by id; bad items refused by name.</summary>
public sealed class TeacherForceTests
{
    private static async Task<List<Rollout>> ForceAsync(TestServer server, TeacherForceRequest request)
    {
        using var call = server.Policy.TeacherForce(request, server.Call());
        var list = new List<Rollout>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout))
        {
            list.Add(call.ResponseStream.Current);
        }

        return list;
    }

    private static TeacherForceItem Ids(IEnumerable<int> prompt, IEnumerable<int> response) => new()
    {
        Prompt = new Prompt { TokenIds = new TokenIds { Ids = { prompt } } },
        ResponseTokenIds = new TokenIds { Ids = { response } },
    };

    private static float[] Hidden(Rollout r) => TensorCodec.DecodeRows(r.HiddenStates, TestModels.PolicyWidth, long.MaxValue, "test", "hidden_states", out _);

    [Fact]
    public async Task TeacherForce_GeneratedTokens_SameLogprobsHiddenStatesAndScoreAsTheSampledRollout()
    {
        await using var server = await TestServer.StartAsync();
        // Temperature 1: TeacherForce reports log-probs of the untempered logits.
        var sampled = await server.GenerateAsync(prompts: 3, k: 2, maxNew: 6, hidden: true);
        var request = new TeacherForceRequest { ReturnHiddenStates = true };
        request.Items.Add(sampled.Select(r => Ids(r.PromptTokenIds, r.ResponseTokenIds)));

        var forced = await ForceAsync(server, request);

        Assert.Equal(sampled.Count, forced.Count);
        for (var i = 0; i < sampled.Count; i++)
        {
            Assert.Equal((uint)i, forced[i].PromptIndex);
            Assert.Equal(0u, forced[i].SampleIndex);
            Assert.Equal(FinishReason.Unspecified, forced[i].FinishReason);
            Assert.Equal(sampled[i].ResponseTokenIds, forced[i].ResponseTokenIds);
            Assert.Equal(sampled[i].ResponseText, forced[i].ResponseText);
            Assert.Equal(sampled[i].HiddenStatesShape, forced[i].HiddenStatesShape);
            Assert.Equal(sampled[i].Logprobs.Count, forced[i].Logprobs.Count);
            for (var t = 0; t < sampled[i].Logprobs.Count; t++) Assert.Equal(sampled[i].Logprobs[t], forced[i].Logprobs[t], 1e-4f);
            float[] a = Hidden(sampled[i]), b = Hidden(forced[i]);
            Assert.Equal(a.Length, b.Length);
            for (var j = 0; j < a.Length; j++) Assert.Equal(a[j], b[j], 1e-4f);
        }

        // Scored by id with feedback, a forced rollout gets the sampled one's reward.
        var replies = await server.ScoreAsync(sampled.Select(r => TestServer.ById("s-" + r.RolloutId, r.RolloutId))
            .Concat(forced.Select(r => TestServer.ById("f-" + r.RolloutId, r.RolloutId))));
        Assert.All(replies, r => Assert.Null(r.Error));
        for (var i = 0; i < sampled.Count; i++)
        {
            Assert.NotEqual(replies[i].Reward, replies[i].VanillaReward); // feedback entered the score
            Assert.Equal(replies[i].Reward, replies[sampled.Count + i].Reward, 1e-4f);
        }
    }

    [Fact]
    public async Task TeacherForce_TextWithAppendEos_AddsOneEosTokenAndIsStoredWithoutHiddenOnTheWire()
    {
        await using var server = await TestServer.StartAsync();
        var request = new TeacherForceRequest();
        request.Items.Add(new TeacherForceItem { Prompt = new Prompt { Text = "sort 3 1 2 =" }, ResponseText = " 1 2 3" });
        request.Items.Add(new TeacherForceItem { Prompt = new Prompt { Text = "sort 3 1 2 =" }, ResponseText = " 1 2 3", AppendEos = true });

        var forced = await ForceAsync(server, request);

        Assert.Equal(2, forced.Count);
        Assert.Equal(forced[0].ResponseTokenIds.Count + 1, forced[1].ResponseTokenIds.Count);
        Assert.Equal(forced[0].ResponseTokenIds, forced[1].ResponseTokenIds.Take(forced[0].ResponseTokenIds.Count));
        Assert.Equal(2, forced[1].ResponseTokenIds[^1]); // the test policy's eos_token_id
        Assert.Equal(" 1 2 3", forced[1].ResponseText.TrimEnd());
        Assert.All(forced, r => Assert.Null(r.HiddenStates));
        Assert.All(forced, r => Assert.All(r.Logprobs, lp => Assert.True(lp <= 0 && float.IsFinite(lp))));
        var info = await server.InfoAsync();
        Assert.Equal(2ul, info.Store.Rollouts);
        var replies = await server.ScoreAsync(forced.Select(r => TestServer.ById(r.RolloutId, r.RolloutId)));
        Assert.All(replies, r => Assert.Null(r.Error));
    }

    public static TheoryData<string, string> BadRequests() => new()
    {
        { "none", "items is empty" },
        { "empty-response", "items[1] has an empty response" },
        { "out-of-vocab", "items[1].response_token_ids.ids[1] = 99999 is outside" },
        { "too-long", "items[1] (prompt + response) has" },
        { "no-prompt", "items[1].prompt is empty" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task TeacherForce_BadItem_InvalidArgumentNamingItAndNothingStored(string which, string message)
    {
        await using var server = await TestServer.StartAsync();
        var request = new TeacherForceRequest();
        if (which != "none")
        {
            request.Items.Add(Ids([1, 5], [6, 2]));
            request.Items.Add(which switch
            {
                "empty-response" => new TeacherForceItem { Prompt = new Prompt { Text = "sort 3 1 =" } },
                "out-of-vocab" => Ids([1, 5], [6, 99999]),
                "too-long" => Ids([1, 5], Enumerable.Repeat(6, TestModels.Context)),
                _ => new TeacherForceItem { ResponseText = " 1" },
            });
        }

        var e = await Assert.ThrowsAsync<RpcException>(() => ForceAsync(server, request));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(message, e.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(0ul, (await server.InfoAsync()).Store.Rollouts);
    }

    [Fact]
    public async Task TeacherForce_MoreItemsThanThePerCallLimit_ResourceExhausted()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxRolloutsPerGenerate = 3);
        var request = new TeacherForceRequest();
        request.Items.Add(Enumerable.Range(0, 4).Select(_ => Ids([1, 5], [6])));

        var e = await Assert.ThrowsAsync<RpcException>(() => ForceAsync(server, request));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("4 items, above the per-call rollout limit 3", e.Status.Detail, StringComparison.Ordinal);
    }
}
