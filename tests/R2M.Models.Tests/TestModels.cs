namespace R2M.Models.Tests;

/// <summary>Small random models of both families for tests that do not need PyTorch.</summary>
internal static class TestModels
{
    public static ModelConfig NeoX(ModelHead head = ModelHead.CausalLm) => new()
    {
        ModelType = "gpt_neox", Head = head, VocabSize = 67, HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 4,
        HeadDim = 8, IntermediateSize = 64, HiddenAct = "gelu", NormEps = 1e-5, RotaryPct = 0.5, RopeTheta = 10000,
        UseParallelResidual = true, QkvBias = true, OutputProjBias = true, MlpBias = true, EosTokenIds = [2], PadTokenId = 1,
        NumLabels = 1,
    };

    public static ModelConfig Llama() => new()
    {
        ModelType = "llama", VocabSize = 59, HiddenSize = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
        IntermediateSize = 48, HiddenAct = "silu", NormEps = 1e-6, RopeTheta = 10000, TieWordEmbeddings = true,
        RopeScaling = new RopeScaling("llama3", 8, 1, 4, 16), EosTokenIds = [2],
    };

    public static ModelConfig Qwen3() => new()
    {
        ModelType = "qwen3", VocabSize = 61, HiddenSize = 24, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8,
        IntermediateSize = 40, HiddenAct = "silu", NormEps = 1e-6, RopeTheta = 1_000_000, EosTokenIds = [2],
    };

    public static TransformerModel Create(ModelConfig c, int seed = 7, float std = 0.25f)
    {
        var m = TransformerModel.Create(c);
        m.InitializeRandom(seed, std);
        return m;
    }
}
