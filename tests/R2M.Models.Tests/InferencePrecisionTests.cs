using R2M.Models.Generation;
using R2M.Models.Safetensors;
using R2M.Tensors;

namespace R2M.Models.Tests;

/// <summary>
/// bf16/f16 inference weights: logits within the documented tolerance of f32; generation with
/// stored bf16 weights equals generation with the f32 weights rounded to bf16; serve-only loading
/// keeps the file's bytes; the trainable copy refreshes after an optimizer step.
/// </summary>
public sealed class InferencePrecisionTests : IDisposable
{
    /// <summary>Documented bound (docs/models.md) on max|logits - f32 logits| / max|f32 logits| for stored matrices.</summary>
    public const double Bf16Tolerance = 2e-2, F16Tolerance = 2e-3;

    private static readonly int[][] Prompts = [[5, 9, 11, 3], [7], [13, 4, 2, 8, 1, 6]];
    private readonly string _dir = TestSupport.NewTempDir("precision");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> Families => new() { "neox", "llama" };

    private static TransformerModel Model(string family) =>
        TestModels.Create(family == "neox" ? TestModels.NeoX() : TestModels.Llama(), std: 0.1f);

    /// <summary>A copy of m whose inference matrices are the f32 values rounded to p (everything else equal).</summary>
    private static TransformerModel Rounded(TransformerModel m, WeightPrecision p)
    {
        var r = TransformerModel.Create(m.Config);
        m.Parameters.CopyTo(r.Parameters, 0);
        foreach (var e in m.Layout.Entries.Where(e => e.Shape.Length == 2 && !e.Name.Contains("embed")))
            Precision.Round(r.Parameter(e.Name), p);
        if (m.Config.TieWordEmbeddings)
            return r;
        foreach (var name in new[] { "embed_out.weight", "lm_head.weight" }.Where(m.Layout.Contains))
            Precision.Round(r.Parameter(name), p);
        return r;
    }

    private static float[] LastLogits(TransformerModel m, int[] tokens, int b)
    {
        var cache = m.CreateCache(b, tokens.Length / b + 1);
        var logits = new float[b * m.Config.VocabSize];
        m.ForwardCached(tokens, default, cache, logits);
        return logits;
    }

    private static double RelativeError(float[] actual, float[] expected) =>
        actual.Zip(expected).Max(p => Math.Abs(p.First - p.Second)) / expected.Max(x => Math.Abs(x));

    [Theory]
    [MemberData(nameof(Families))]
    public void Logits_StoredPrecision_WithinToleranceOfF32(string family)
    {
        var m = Model(family);
        var tokens = new[] { 5, 9, 11, 3, 7, 1, 2, 8, 13, 4, 6, 10 };
        var f32 = LastLogits(m, tokens, 3);
        foreach (var (p, tol) in new[] { (WeightPrecision.F16, F16Tolerance), (WeightPrecision.BF16, Bf16Tolerance) })
        {
            m.SetInferencePrecision(p);
            var err = RelativeError(LastLogits(m, tokens, 3), f32);
            Assert.True(err <= tol, $"{p}: relative logit error {err:E2} > {tol}");
            Assert.True(err > 0, $"{p}: logits equal f32 exactly, so the stored copy was not used");
            var full = m.Forward(tokens, default, 3, 4).Logits.ToArray();
            m.SetInferencePrecision(WeightPrecision.F32);
            Assert.True(RelativeError(full, m.Forward(tokens, default, 3, 4).Logits.ToArray()) <= tol);
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Generate_Bf16Weights_EqualsF32WeightsRoundedToBf16(string family)
    {
        var m = Model(family);
        // A tied head is a bf16 copy of the f32 embedding table the gather reads; pre-round the table
        // so that "the f32 weights rounded to bf16" is one well-defined model.
        if (m.Config.TieWordEmbeddings)
            Precision.Round(m.Parameter("model.embed_tokens.weight"), WeightPrecision.BF16);
        var reference = Rounded(m, WeightPrecision.BF16);
        m.SetInferencePrecision(WeightPrecision.BF16);
        foreach (var opts in new[]
        {
            new GenerationOptions { MaxNewTokens = 12, Temperature = 0 },
            new GenerationOptions { MaxNewTokens = 12, Temperature = 0.8f, TopK = 20, Seed = 3 },
        })
        {
            var ours = TextGenerator.Generate(m, Prompts, opts);
            var theirs = TextGenerator.Generate(reference, Prompts, opts);
            for (var b = 0; b < Prompts.Length; b++)
            {
                Assert.Equal(theirs.Tokens[b], ours.Tokens[b]);
                // Same weights, but the f32 prompt pass may run on OpenBLAS: equal up to summation order.
                for (var i = 0; i < ours.LogProbs[b].Length; i++)
                    Assert.Equal(theirs.LogProbs[b][i], ours.LogProbs[b][i], 1e-5f);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void LoadForInference_Bf16File_KeepsBytesAndMatchesTrainableCopy(string family)
    {
        var m = Model(family);
        ModelCheckpoint.Save(m, _dir, SafetensorsDtype.BF16);
        var served = ModelCheckpoint.LoadForInference(_dir, WeightPrecision.BF16);
        var trainable = ModelCheckpoint.Load(_dir);
        trainable.SetInferencePrecision(WeightPrecision.BF16);
        Assert.True(served.ServeOnly);
        Assert.Equal(WeightPrecision.BF16, served.InferencePrecision);
        var opts = new GenerationOptions { MaxNewTokens = 10, Temperature = 0 };
        var a = TextGenerator.Generate(served, Prompts, opts);
        var b = TextGenerator.Generate(trainable, Prompts, opts);
        for (var i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(b.Tokens[i], a.Tokens[i]);
            Assert.Equal(b.LogProbs[i], a.LogProbs[i]);
        }
        var matrix = family == "neox" ? "gpt_neox.layers.0.mlp.dense_h_to_4h.weight" : "model.layers.0.mlp.gate_proj.weight";
        var e = Assert.Throws<InvalidOperationException>(() => served.Parameter(matrix));
        Assert.Contains("serve-only", e.Message);
        Assert.Throws<InvalidOperationException>(() => served.Forward([1, 2], default, 1, 2, training: true));
        Assert.Throws<InvalidOperationException>(() => served.AdamWStep(1e-3f));
        Assert.Throws<InvalidOperationException>(() => served.RefreshInferenceWeights());
    }

    [Fact]
    public void LoadForInference_F32FileToF16_EqualsSetInferencePrecision()
    {
        var m = Model("neox");
        ModelCheckpoint.Save(m, _dir);
        var served = ModelCheckpoint.LoadForInference(_dir, WeightPrecision.F16);
        m.SetInferencePrecision(WeightPrecision.F16);
        var tokens = new[] { 5, 9, 11, 3, 7, 1 };
        Assert.Equal(LastLogits(m, tokens, 2), LastLogits(served, tokens, 2));
    }

    [Fact]
    public void RefreshInferenceWeights_AfterOptimizerStep_ServesTheNewWeights()
    {
        var m = Model("neox");
        m.SetInferencePrecision(WeightPrecision.BF16);
        var tokens = new[] { 5, 9, 11, 3, 7, 1 };
        var before = LastLogits(m, tokens, 2);
        m.ZeroGrad();
        var logp = new float[2 * 2];
        m.LogProbs(tokens, default, 2, 3, logp, training: true);
        m.BackwardLogProbs(Enumerable.Repeat(-0.25f, 4).ToArray(), default);
        m.AdamWStep(1e-2f);
        var expected = LastLogits(Rounded(m, WeightPrecision.BF16), tokens, 2);
        var stale = LastLogits(m, tokens, 2);
        Assert.True(RelativeError(stale, expected) > 1e-3, "without a refresh the old bf16 matrices are served");
        m.RefreshInferenceWeights();
        var after = LastLogits(m, tokens, 2);
        Assert.NotEqual(before, after);
        Assert.True(RelativeError(after, expected) <= 1e-6, $"refreshed logits differ from the rounded f32 model by {RelativeError(after, expected):E2}");
    }
}
