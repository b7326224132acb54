using R2M.Models.Generation;

namespace R2M.Models.Tests;

public sealed class GenerationTests
{
    private static readonly int[][] Prompts = [[5, 9, 11, 3], [7], [13, 4]];

    public static TheoryData<string> Families => new() { "neox", "llama", "qwen3" };

    private static TransformerModel Model(string family) =>
        TestModels.Create(family switch { "neox" => TestModels.NeoX(), "qwen3" => TestModels.Qwen3(), _ => TestModels.Llama() });

    [Theory]
    [MemberData(nameof(Families))]
    public void Generate_GreedyCachedVsUncached_SameTokens(string family)
    {
        var m = Model(family);
        var opts = new GenerationOptions { MaxNewTokens = 10, Temperature = 0 };
        var cached = TextGenerator.Generate(m, Prompts, opts);
        var uncached = TextGenerator.Generate(m, Prompts, opts with { UseCache = false });
        AssertSame(cached, uncached);
        Assert.All(cached.Tokens, t => Assert.Equal(10, t.Length));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Generate_CancelledToken_ThrowsBeforeAForwardPass(bool useCache)
    {
        var m = Model("neox");
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        Assert.Throws<OperationCanceledException>(() =>
            TextGenerator.Generate(m, Prompts, new GenerationOptions { MaxNewTokens = 10, UseCache = useCache }, cts.Token));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Generate_SampledCachedVsUncached_SameTokens(string family)
    {
        var m = Model(family);
        var opts = new GenerationOptions { MaxNewTokens = 12, Temperature = 0.9f, TopK = 20, TopP = 0.9f, Seed = 42 };
        var cached = TextGenerator.Generate(m, Prompts, opts);
        var uncached = TextGenerator.Generate(m, Prompts, opts with { UseCache = false });
        AssertSame(cached, uncached);
        var otherSeed = TextGenerator.Generate(m, Prompts, opts with { Seed = 43 });
        Assert.NotEqual(cached.Tokens.SelectMany(t => t), otherSeed.Tokens.SelectMany(t => t));
    }

    [Fact]
    public void Generate_StopToken_EndsRowAndIsIncluded()
    {
        var m = Model("neox");
        var greedy = TextGenerator.Generate(m, Prompts, new GenerationOptions { MaxNewTokens = 8, Temperature = 0 });
        var stop = greedy.Tokens[0][2];
        var r = TextGenerator.Generate(m, Prompts, new GenerationOptions { MaxNewTokens = 8, Temperature = 0, StopTokens = [stop] });
        var firstStop = Array.IndexOf(greedy.Tokens[0], stop);
        Assert.Equal(greedy.Tokens[0][..(firstStop + 1)], r.Tokens[0]);
        Assert.True(r.Stopped[0]);
        for (var b = 0; b < Prompts.Length; b++)
        {
            var i = Array.IndexOf(greedy.Tokens[b], stop);
            Assert.Equal(i < 0 ? greedy.Tokens[b] : greedy.Tokens[b][..(i + 1)], r.Tokens[b]);
            Assert.Equal(i >= 0, r.Stopped[b]);
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Generate_LeftPaddedBatch_MatchesSinglePrompt(string family)
    {
        var m = Model(family);
        var opts = new GenerationOptions { MaxNewTokens = 6, Temperature = 0 };
        var batch = TextGenerator.Generate(m, Prompts, opts);
        for (var b = 0; b < Prompts.Length; b++)
            Assert.Equal(batch.Tokens[b], TextGenerator.Generate(m, [Prompts[b]], opts).Tokens[0]);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Generate_LogProbsAndHidden_MatchTeacherForcedForward(string family)
    {
        var m = Model(family);
        const float Tau = 0.8f;
        var r = TextGenerator.Generate(m, Prompts, new GenerationOptions
        {
            MaxNewTokens = 7, Temperature = Tau, Seed = 3, ReturnHiddenStates = true,
        });
        var c = m.Config.HiddenSize;
        for (var b = 0; b < Prompts.Length; b++)
        {
            var seq = Prompts[b].Concat(r.Tokens[b]).ToArray();
            var logp = new float[seq.Length - 1];
            var f = m.LogProbs(seq, default, 1, seq.Length, logp, Tau);
            var expectedLogp = logp[(Prompts[b].Length - 1)..];
            Assert.True(TestSupport.MaxRelError(r.LogProbs[b], expectedLogp) < 1e-4, $"row {b} log-probs differ");
            var expectedHidden = f.Hidden.Span[..((seq.Length - 1) * c)].ToArray();
            Assert.Equal(expectedHidden.Length, r.HiddenStates![b].Length);
            Assert.True(TestSupport.MaxRelError(r.HiddenStates[b], expectedHidden) < 1e-4, $"row {b} hidden states differ");
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ForwardCached_TwoChunks_EqualsFullForward(string family)
    {
        var m = Model(family);
        int b = 2, t = 9, v = m.Config.VocabSize, c = m.Config.HiddenSize;
        var rng = new Random(5);
        var tokens = Enumerable.Range(0, b * t).Select(_ => rng.Next(3, v)).ToArray();
        var mask = Enumerable.Repeat(1, b * t).ToArray();
        mask[t] = mask[t + 1] = 0; // row 1 left-padded
        var full = m.Forward(tokens, mask, b, t);
        var fullLogits = full.Logits.ToArray();
        var fullHidden = full.Hidden.ToArray();
        var cache = m.CreateCache(b, t + 2);
        var logits = new float[b * v];
        var hidden = new float[b * 5 * c];
        int[] Cols(int[] x, int from, int len) =>
            Enumerable.Range(0, b).SelectMany(r => x.Skip(r * t + from).Take(len)).ToArray();
        m.ForwardCached(Cols(tokens, 0, 4), Cols(mask, 0, 4), cache, logits);
        m.ForwardCached(Cols(tokens, 4, 5), Cols(mask, 4, 5), cache, logits, hidden);
        Assert.Equal(t, cache.Length);
        for (var r = 0; r < b; r++)
        {
            var expected = fullLogits.AsSpan((r * t + t - 1) * v, v);
            Assert.True(TestSupport.MaxRelError(logits.AsSpan(r * v, v), expected) < 1e-5, $"row {r} logits differ");
            var expectedHidden = fullHidden.AsSpan((r * t + 4) * c, 5 * c);
            Assert.True(TestSupport.MaxRelError(hidden.AsSpan(r * 5 * c, 5 * c), expectedHidden) < 1e-5, $"row {r} hidden differ");
        }
    }

    [Fact]
    public void Generate_BadOptions_Throw()
    {
        var m = Model("llama");
        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(m, Prompts, new GenerationOptions { TopP = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(m, Prompts, new GenerationOptions { MaxNewTokens = 0 }));
        Assert.Throws<ArgumentException>(() => TextGenerator.Generate(m, [[]], new GenerationOptions()));
        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(m, [[1000]], new GenerationOptions()));
    }

    private static void AssertSame(GenerationResult a, GenerationResult b)
    {
        Assert.Equal(a.Tokens.Count, b.Tokens.Count);
        for (var i = 0; i < a.Tokens.Count; i++)
        {
            Assert.Equal(a.Tokens[i], b.Tokens[i]);
            Assert.True(TestSupport.MaxRelError(a.LogProbs[i], b.LogProbs[i]) < 1e-4);
        }
    }
}
