using System.Buffers;
using Ml = Microsoft.ML.Tokenizers;

namespace R2M.Tokenizers.Tests;

/// <summary>Code written against Microsoft.ML.Tokenizers' abstract Tokenizer gets our ids, offsets and text.</summary>
public sealed class MlTokenizerAdapterTests
{
    private static readonly Lazy<Tokenizer> s_gemma = new(() => Tokenizer.FromFile(TestPaths.PackagedTokenizer("gemma3")));
    private static readonly Lazy<Tokenizer> s_llama3 = new(() => Tokenizer.FromFile(TestPaths.PackagedTokenizer("llama3")));

    // What a caller of the package writes: only the abstract type.
    private static (IReadOnlyList<int> Ids, int Count, string Text) UseThroughPackageApi(Ml.Tokenizer tokenizer, string text) =>
        (tokenizer.EncodeToIds(text), tokenizer.CountTokens(text), tokenizer.Decode(tokenizer.EncodeToIds(text)));

    [Theory]
    [InlineData("gemma3")]
    [InlineData("llama3")]
    public void EncodeDecode_ThroughAbstractApi_SameAsOurs(string name)
    {
        var ours = name == "gemma3" ? s_gemma.Value : s_llama3.Value;
        Ml.Tokenizer adapter = new MlTokenizerAdapter(ours);
        foreach (var s in DifferentialCorpus.Build(500, seed: 3).Where(t => t.Length < 3000))
        {
            var (ids, count, text) = UseThroughPackageApi(adapter, s);
            Assert.Equal(ours.Encode(s), ids);
            Assert.Equal(ids.Count, count);
            Assert.Equal(ours.Decode(ours.Encode(s), skipSpecialTokens: true), text);
            Assert.Equal(ours.Encode(s), adapter.EncodeToIds(s.AsSpan()));
        }
    }

    [Fact]
    public void EncodeToTokens_Llama3_ValuesAndOffsetsOfOurEncoding()
    {
        Ml.Tokenizer adapter = new MlTokenizerAdapter(s_llama3.Value);
        var text = "Hello world, it's 2024 😀";
        var tokens = adapter.EncodeToTokens(text, out var normalized);
        var enc = s_llama3.Value.EncodeWithOffsets(text);
        Assert.Null(normalized);
        Assert.Equal(enc.Ids, tokens.Select(t => t.Id));
        Assert.Equal(enc.Offsets.Select(o => new Range(o.Start, o.End)), tokens.Select(t => t.Offset));
        Assert.Equal(" world", text[tokens[1].Offset]);
        Assert.Equal("Ġworld", tokens[1].Value);
    }

    [Fact]
    public void EncodeToIds_MaxTokenCount_StopsOnWholeCharacters()
    {
        Ml.Tokenizer adapter = new MlTokenizerAdapter(s_llama3.Value);
        var text = "ab 😀😀 cd";   // each emoji is several byte-level tokens
        var all = s_llama3.Value.EncodeWithOffsets(text);
        for (var max = 1; max <= all.Ids.Length; max++)
        {
            var ids = adapter.EncodeToIds(text, max, out _, out var consumed);
            Assert.InRange(ids.Count, 1, max);
            Assert.Equal(all.Ids.Take(ids.Count), ids);
            // The kept tokens are exactly the encoding of the consumed prefix.
            Assert.Equal(ids, s_llama3.Value.Encode(text[..consumed]));
            var index = adapter.GetIndexByTokenCountFromEnd(text, max, out _, out var tail);
            Assert.InRange(tail, 0, max);
            Assert.Equal(all.Ids.Skip(all.Ids.Length - tail), s_llama3.Value.Encode(text[index..]));
        }
    }

    [Fact]
    public void Decode_SmallDestination_WritesWholeTokensThatFit()
    {
        Ml.Tokenizer adapter = new MlTokenizerAdapter(s_gemma.Value);
        var ids = adapter.EncodeToIds("The reward model scores every rollout.");
        var buffer = new char[10];
        var status = adapter.Decode(ids, buffer, out var used, out var written);
        Assert.Equal(OperationStatus.DestinationTooSmall, status);
        var prefix = s_gemma.Value.Decode(ids.Take(used).ToArray(), skipSpecialTokens: true);
        Assert.Equal(prefix, new string(buffer, 0, written));
        Assert.True(s_gemma.Value.Decode(ids.Take(used + 1).ToArray(), skipSpecialTokens: true).Length > buffer.Length);
        Assert.Equal(OperationStatus.Done, adapter.Decode(ids, new char[100], out used, out _));
        Assert.Equal(ids.Count, used);
    }

    [Fact]
    public void EncodeToIds_WithoutNormalization_Refused()
    {
        Ml.Tokenizer adapter = new MlTokenizerAdapter(s_gemma.Value);
        Assert.Throws<NotSupportedException>(() => adapter.EncodeToIds("x", considerPreTokenization: true, considerNormalization: false));
    }
}
