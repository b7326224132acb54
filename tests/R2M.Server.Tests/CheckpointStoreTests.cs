using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using R2M.Api.V1;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Tests;

public sealed class CheckpointStoreTests
{
    private static ScoreRequest Probe(string id, int rows) => new()
    {
        ItemId = id,
        Inline = new InlineItem { PromptText = "sort 4 2 =", ResponseText = " 2 4" },
        Options = new ScoreOptions { Schedule = TestServer.Schedule(8, 10) },
        HiddenStates = ScoreInputTests.Hidden(rows, TestModels.PolicyWidth, 0.5f),
    };

    private static async Task TrainAsync(TestServer server)
    {
        var rollouts = await server.GenerateAsync(prompts: 2, k: 3);
        var scores = (await server.ScoreAsync(rollouts.Select(r => TestServer.ById(r.RolloutId, r.RolloutId)))).ToDictionary(r => r.ItemId);
        var batch = new PolicyBatch { Config = new OptimizeConfig { LearningRate = 1e-2f } };
        batch.Items.AddRange(rollouts.Select(r => new PolicyItem { RolloutId = r.RolloutId, GroupId = $"{r.PromptIndex}", Reward = scores[r.RolloutId].Reward + r.ResponseTokenIds.Count }));
        await server.OptimizeAsync([batch]);
        await server.UpdateAsync(rollouts.GroupBy(r => r.PromptIndex).Select(g => new PreferenceGroup
        {
            Config = new UpdateConfig { Schedule = TestServer.Schedule(), LearningRate = 0.05f },
            Members = { g.Select(r => new GroupMember { RolloutId = r.RolloutId, AnnotationReward = r.ResponseTokenIds.Count }) },
        }));
    }

    private static async Task<(float Reward, string Tokens)> StateAsync(TestServer server)
    {
        var reward = (await server.ScoreAsync([Probe("p", 5)])).Single().Reward;
        var greedy = new GenerateRequest { Prompts = { new Prompt { Text = "sort 5 1 =" } }, Sampling = new SamplingParams { Temperature = 0, MaxNewTokens = 8 } };
        var tokens = string.Join(",", (await server.GenerateAsync(greedy)).Single().ResponseTokenIds);
        return (reward, tokens);
    }

    [Fact]
    public async Task SaveResetLoad_RestoresWeightsVersionsAndClientState_AndRestartResumes()
    {
        string path;
        (float, string) saved;
        ulong savedRm, savedPolicy;
        var root = Path.Combine(Path.GetTempPath(), $"r2m-ckpt-shared-{Guid.NewGuid():N}");
        try
        {
            await using (var server = await TestServer.StartAsync(o => o.CheckpointRoot = root))
            {
                var initial = await StateAsync(server);
                await TrainAsync(server);
                saved = await StateAsync(server);
                Assert.NotEqual(initial.Reward, saved.Item1);
                var save = await server.SaveAsync(new SaveCheckpointRequest { Name = "step-1", ClientState = ByteString.CopyFromUtf8("step=1") });
                (path, savedRm, savedPolicy) = (save.Path, save.RmVersion, save.PolicyVersion);
                Assert.Equal((ulong)2, savedRm);
                Assert.True(save.Bytes > 0);

                var reset = await server.ResetAsync(new ResetRequest());
                Assert.True(reset.RmVersion > savedRm);
                Assert.Equal(initial, await StateAsync(server));

                var load = await server.LoadAsync(new LoadCheckpointRequest { Name = "step-1" });
                Assert.Equal("step=1", load.ClientState.ToStringUtf8());
                Assert.True(load.RmVersion > reset.RmVersion, "versions only grow");
                Assert.Equal(saved, await StateAsync(server));
                Assert.Equal((ulong)10, load.LastSchedule.TotalSteps);
            }

            // A restarted server resumes from the checkpoint: same weights, saved versions.
            await using (var restarted = await TestServer.StartAsync(o => (o.CheckpointRoot, o.ResumeFrom) = (root, "step-1")))
            {
                var info = await restarted.InfoAsync();
                Assert.Equal(savedRm, info.RmVersion);
                Assert.Equal(savedPolicy, info.PolicyVersion);
                Assert.Equal(saved, await StateAsync(restarted));
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, true);
        }
    }

    [Fact]
    public async Task Checkpoint_BadRequests_ClearStatuses()
    {
        await using var server = await TestServer.StartAsync();
        await Fails(() => server.SaveAsync(new SaveCheckpointRequest { Name = "../up" }), StatusCode.InvalidArgument, "characters");
        await Fails(() => server.SaveAsync(new SaveCheckpointRequest()), StatusCode.InvalidArgument, "exactly one");
        await Fails(() => server.SaveAsync(new SaveCheckpointRequest { Path = "/tmp/elsewhere" }), StatusCode.PermissionDenied, "outside the checkpoint root");
        await Fails(() => server.LoadAsync(new LoadCheckpointRequest { Name = "nothing-here" }), StatusCode.NotFound, "no checkpoint");
        // Files that pass their manifest but are no checkpoint state; and the layout before manifests.
        var checkpoints = new CheckpointDirectory(server.Options.CheckpointRoot, false, NullLogger.Instance, hook: null);
        checkpoints.Save(checkpoints.Resolve("corrupt", ""), tmp => File.WriteAllBytes(Path.Combine(tmp, "state.safetensors"), [1, 2, 3]));
        await Fails(() => server.LoadAsync(new LoadCheckpointRequest { Name = "corrupt" }), StatusCode.DataLoss, "state.safetensors");
        var legacy = Path.Combine(server.Options.CheckpointRoot, "legacy");
        Directory.CreateDirectory(legacy);
        await File.WriteAllBytesAsync(Path.Combine(legacy, "state.safetensors"), [1, 2, 3]);
        await Fails(() => server.LoadAsync(new LoadCheckpointRequest { Name = "legacy" }), StatusCode.FailedPrecondition, "before the versioned layout");

        // A checkpoint of a differently shaped head (another attention width) is refused, naming the shape.
        var root = server.Options.CheckpointRoot;
        await using (var other = await TestServer.StartAsync(o => (o.AttentionDim, o.CheckpointRoot) = (4, root)))
        {
            await other.SaveAsync(new SaveCheckpointRequest { Name = "d4" });
        }

        await Fails(() => server.LoadAsync(new LoadCheckpointRequest { Name = "d4" }), StatusCode.FailedPrecondition, "d 4");
        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion);
    }

    [Fact]
    public async Task RolloutStore_OverCapacity_EvictsOldestAndReportsNotFound()
    {
        // Each tiny rollout takes a few hundred bytes (hidden states 16 floats per row): 4 KiB holds a handful.
        await using var server = await TestServer.StartAsync(o => o.RolloutStoreBytes = 4096);
        var first = await server.GenerateAsync(prompts: 1, k: 2);
        for (var i = 0; i < 6; i++) await server.GenerateAsync(prompts: 1, k: 2);
        var info = await server.InfoAsync();
        Assert.True(info.Store.EvictedTotal > 0);
        Assert.True(info.Store.Bytes <= 4096);
        var replies = await server.ScoreAsync(first.Select(r => TestServer.ById(r.RolloutId, r.RolloutId)));
        Assert.All(replies, r =>
        {
            Assert.Equal((int)StatusCode.NotFound, r.Error.Code);
            Assert.Contains("evicted", r.Error.Message, StringComparison.Ordinal);
        });
        var e = await Assert.ThrowsAsync<RpcException>(() => server.OptimizeAsync([new PolicyBatch { Config = new OptimizeConfig(), Items = { new PolicyItem { RolloutId = first[0].RolloutId, Advantage = 1 } } }]));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.True((await server.InfoAsync()).Store.Misses >= 3);
    }

    [Fact]
    public async Task DifferentTokenizers_RolloutsRetokenizedForTheRewardModel()
    {
        await using var server = await TestServer.StartAsync(o => o.RewardModelPath = TestModels.CharRewardDir);
        var info = await server.InfoAsync();
        Assert.NotEqual(info.Policy.Tokenizer, info.RewardModel.Tokenizer);
        var rollouts = await server.GenerateAsync(prompts: 2, k: 2, maxNew: 4);
        var r = rollouts[0];
        // The same text given inline (RM tokenizer, character level) must give the by-id vanilla reward.
        var prompt = Sandbox.SandboxVocabulary.Decode(r.PromptTokenIds, keepSpecial: false);
        var response = Sandbox.SandboxVocabulary.Decode(r.ResponseTokenIds, keepSpecial: true);
        var replies = (await server.ScoreAsync(
        [
            TestServer.ById("id", r.RolloutId),
            new ScoreRequest { ItemId = "text", Inline = new InlineItem { PromptText = prompt, ResponseText = response } },
        ])).ToDictionary(x => x.ItemId);
        Assert.Null(replies["id"].Error);
        Assert.Null(replies["text"].Error);
        Assert.Equal(replies["text"].VanillaReward, replies["id"].VanillaReward, 5);
        Assert.True(replies["id"].Omega < 1f);
    }

    private static async Task Fails(Func<Task> call, StatusCode code, string fragment)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(fragment, e.Status.Detail, StringComparison.Ordinal);
    }
}
