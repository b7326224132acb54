using Google.Protobuf;
using Grpc.Core;
using R2M.Api.V1;
using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>Score: every bad item gets an in-band status naming the problem, and the stream keeps scoring the good ones.</summary>
public sealed class ScoreInputTests
{
    private static ScoreRequest Inline(string id, Tensor? hidden, VariantConfig variant = VariantConfig.R2M, Schedule? schedule = null)
    {
        var r = new ScoreRequest
        {
            ItemId = id,
            Inline = new InlineItem { PromptText = "sort 3 1 2 =", ResponseText = " 1 2 3" },
            Options = new ScoreOptions { Variant = variant, Schedule = schedule ?? TestServer.Schedule() },
        };
        if (hidden is not null) r.HiddenStates = hidden;
        return r;
    }

    internal static Tensor Hidden(int rows, int width, float value = 0.1f, DType dtype = DType.F32)
    {
        var v = Enumerable.Range(0, rows * width).Select(i => value * MathF.Sin(i)).ToArray();
        return TensorCodec.Encode(v, width, dtype);
    }

    [Fact]
    public async Task Score_BadItems_InBandErrorsAndGoodItemsScored()
    {
        await using var server = await TestServer.StartAsync();
        var nan = Hidden(3, TestModels.PolicyWidth);
        var bytes = nan.Data.ToByteArray();
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, 4 * 5);
        nan.Data = ByteString.CopyFrom(bytes);
        var shortData = Hidden(3, TestModels.PolicyWidth);
        shortData.Data = ByteString.CopyFrom(shortData.Data.Span[..8]);
        var longText = string.Join(" ", Enumerable.Repeat("1", 200));
        var requests = new[]
        {
            Inline("good-1", Hidden(4, TestModels.PolicyWidth)),
            Inline("wrong-width", Hidden(4, TestModels.PolicyWidth + 1)),
            Inline("nan", nan),
            Inline("short-data", shortData),
            TestServer.ById("unknown-id", "ro-does-not-exist"),
            new ScoreRequest { ItemId = "too-long", Inline = new InlineItem { PromptText = "sort =", ResponseText = longText } },
            new ScoreRequest { ItemId = "out-of-vocab", Inline = new InlineItem { PromptTokenIds = new TokenIds { Ids = { 1, 23, 999 } }, ResponseText = " 1" } },
            Inline("no-schedule", Hidden(2, TestModels.PolicyWidth), schedule: new Schedule()),
            new ScoreRequest { ItemId = "no-source" },
            Inline("good-2", null),
        };
        var replies = (await server.ScoreAsync(requests)).ToDictionary(r => r.ItemId);
        Assert.Equal(requests.Length, replies.Count);
        Assert.Null(replies["good-1"].Error);
        Assert.Null(replies["good-2"].Error);
        Assert.Equal(1f, replies["good-2"].Omega);
        Assert.Equal(replies["good-2"].VanillaReward, replies["good-2"].Reward);
        Expect(replies["wrong-width"], StatusCode.InvalidArgument, "width 17");
        Expect(replies["nan"], StatusCode.InvalidArgument, "NaN");
        Expect(replies["short-data"], StatusCode.InvalidArgument, "bytes");
        Expect(replies["unknown-id"], StatusCode.NotFound, "ro-does-not-exist");
        Expect(replies["too-long"], StatusCode.InvalidArgument, "context length");
        Expect(replies["out-of-vocab"], StatusCode.InvalidArgument, "999");
        Expect(replies["no-schedule"], StatusCode.InvalidArgument, "total_steps");
        Expect(replies["no-source"], StatusCode.InvalidArgument, "neither rollout_id nor inline");
        Assert.All(replies.Values, r => Assert.Equal((ulong)1, r.RmVersion));

        // The server keeps serving.
        var again = await server.ScoreAsync([Inline("after", Hidden(4, TestModels.PolicyWidth))]);
        Assert.Null(again.Single().Error);
        // Equal up to rounding: the backbone batch (and its padding) differs between the two calls.
        Assert.Equal(replies["good-1"].Reward, again.Single().Reward, 5);
    }

    private static void Expect(ScoreReply reply, StatusCode code, string fragment)
    {
        Assert.NotNull(reply.Error);
        Assert.Equal((int)code, reply.Error.Code);
        Assert.Contains(fragment, reply.Error.Message, StringComparison.Ordinal);
        Assert.Equal(0f, reply.Reward);
    }

    [Fact]
    public async Task Score_InterleavedChunks_EndsStreamWithInvalidArgument()
    {
        await using var server = await TestServer.StartAsync();
        var a = Inline("a", Hidden(2, TestModels.PolicyWidth));
        a.MoreChunks = true;
        var b = Inline("b", Hidden(2, TestModels.PolicyWidth));
        var e = await Assert.ThrowsAsync<RpcException>(() => server.ScoreAsync([a, b]));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains("interleaved", e.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Score_ChunkedInline_EqualsOneMessageAndByIdScore()
    {
        await using var server = await TestServer.StartAsync();
        var rollout = (await server.GenerateAsync(prompts: 1, k: 1, hidden: true, chunkBytes: 64 * 3)).ToList();
        Assert.True(rollout.Count > 1, "hidden states should have been chunked");
        var first = rollout[0];
        var hidden = new List<float>();
        var rows = 0;
        foreach (var m in rollout)
        {
            hidden.AddRange(TensorCodec.DecodeRows(m.HiddenStates, TestModels.PolicyWidth, 1L << 30, "a test cap", "h", out var n));
            rows += n;
        }

        Assert.Equal(first.HiddenStatesShape[0], rows);
        Assert.Equal(first.PromptTokenIds.Count + first.ResponseTokenIds.Count - 1, rows);

        // The same hidden states sent inline, in 3 chunks, with the rollout's own RM tokens (shared tokenizer).
        var chunks = new List<ScoreRequest>();
        var all = hidden.ToArray();
        var per = (rows + 2) / 3;
        for (int c = 0, row = 0; row < rows; c++, row += per)
        {
            var n = Math.Min(per, rows - row);
            var msg = c == 0
                ? new ScoreRequest
                {
                    ItemId = "inline",
                    Inline = new InlineItem { PromptTokenIds = new TokenIds { Ids = { first.PromptTokenIds } }, ResponseTokenIds = new TokenIds { Ids = { first.ResponseTokenIds } } },
                    Options = new ScoreOptions { Schedule = TestServer.Schedule() },
                }
                : new ScoreRequest { ItemId = "inline", ChunkIndex = (uint)c };
            msg.HiddenStates = TensorCodec.Encode(all.AsSpan(row * TestModels.PolicyWidth, n * TestModels.PolicyWidth), TestModels.PolicyWidth, DType.F32);
            msg.MoreChunks = row + n < rows;
            chunks.Add(msg);
        }

        var replies = (await server.ScoreAsync([.. chunks, TestServer.ById("by-id", first.RolloutId)])).ToDictionary(r => r.ItemId);
        Assert.Null(replies["inline"].Error);
        Assert.Null(replies["by-id"].Error);
        Assert.True(replies["inline"].Omega < 1f);
        Assert.Equal(replies["by-id"].Reward, replies["inline"].Reward, 5);
        Assert.NotEqual(replies["by-id"].VanillaReward, replies["by-id"].Reward);
    }

    [Fact]
    public async Task Score_Bf16HiddenStates_CloseToF32()
    {
        await using var server = await TestServer.StartAsync();
        var f32 = Inline("f32", Hidden(6, TestModels.PolicyWidth, 1f));
        var bf16 = Inline("bf16", Hidden(6, TestModels.PolicyWidth, 1f, DType.Bf16));
        var f16 = Inline("f16", Hidden(6, TestModels.PolicyWidth, 1f, DType.F16));
        var r = (await server.ScoreAsync([f32, bf16, f16])).ToDictionary(x => x.ItemId);
        Assert.All(r.Values, x => Assert.Null(x.Error));
        Assert.Equal(r["f32"].Reward, r["bf16"].Reward, 2);
        Assert.Equal(r["f32"].Reward, r["f16"].Reward, 3);
    }

    [Fact]
    public async Task Score_InlineTextOutsideRmVocabulary_CountsUnknownCharacters()
    {
        await using var server = await TestServer.StartAsync();
        var options = new ScoreOptions { Schedule = TestServer.Schedule() };
        var requests = new[]
        {
            // 'x' is one byte outside the byte-level vocabulary, 'é' two (UTF-8 C3 A9).
            new ScoreRequest { ItemId = "oov", Inline = new InlineItem { PromptText = "sort 3 x 1 =", ResponseText = " 1 3 é" }, Options = options },
            new ScoreRequest { ItemId = "clean", Inline = new InlineItem { PromptText = "sort 3 1 =", ResponseText = " 1 3" }, Options = options },
            new ScoreRequest { ItemId = "ids", Inline = new InlineItem { PromptTokenIds = new TokenIds { Ids = { 1, 4 } }, ResponseText = " 1" }, Options = options },
        };
        var replies = (await server.ScoreAsync(requests)).ToDictionary(r => r.ItemId);
        Assert.All(replies.Values, r => Assert.Null(r.Error));
        Assert.Equal(3u, replies["oov"].UnknownTokens);
        Assert.True(float.IsFinite(replies["oov"].Reward)); // still scored: the count is a warning, not an error
        Assert.Equal(0u, replies["clean"].UnknownTokens);
        Assert.Equal(0u, replies["ids"].UnknownTokens);
    }

    [Fact]
    public async Task Score_MessageAboveLimit_ResourceExhaustedButChunksPass()
    {
        await using var server = await TestServer.StartAsync(o => o.MaxReceiveMessageBytes = 16 * 1024);
        var rows = 400; // 400 x 16 x 4 bytes = 25.6 KB, above the 16 KiB limit in one message
        var big = Inline("big", Hidden(rows, TestModels.PolicyWidth));
        var e = await Assert.ThrowsAsync<RpcException>(() => server.ScoreAsync([big]));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);

        var values = TensorCodec.DecodeRows(big.HiddenStates, TestModels.PolicyWidth, 1L << 30, "a test cap", "h", out _);
        var parts = new List<ScoreRequest>();
        for (int c = 0, row = 0; row < rows; c++, row += 100)
        {
            var msg = c == 0 ? Inline("big", null) : new ScoreRequest { ItemId = "big", ChunkIndex = (uint)c };
            msg.HiddenStates = TensorCodec.Encode(values.AsSpan(row * 16, 100 * 16), 16, DType.F32);
            msg.MoreChunks = row + 100 < rows;
            parts.Add(msg);
        }

        var ok = await server.ScoreAsync(parts);
        Assert.Null(ok.Single().Error);
    }
}
