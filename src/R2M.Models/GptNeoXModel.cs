namespace R2M.Models;

/// <summary>
/// GPT-NeoX / Pythia (transformers modeling_gpt_neox): LayerNorm with bias, fused head-interleaved QKV,
/// partial rotary, parallel or sequential residual, MLP dense_4h_to_h(act(dense_h_to_4h(x))).
/// </summary>
public sealed class GptNeoXModel : TransformerModel
{
    public GptNeoXModel(ModelConfig config)
        : base(config)
    {
        if (config.Family != ModelFamily.GptNeoX)
            throw new ArgumentException($"model_type '{config.ModelType}' is not a GPT-NeoX config", nameof(config));
    }

    internal override bool Gated => false;

    internal override bool Rms => false;

    /// <summary>query_key_value rows are [heads, 3 * d]: head h has q at h*3d, k at h*3d+d, v at h*3d+2d.</summary>
    internal override int QkvColumn(int part, int head) => head * 3 * Config.HeadDim + part * Config.HeadDim;

    private protected override void BuildLayout(ParameterLayout layout, LayerSlots[] layers, ref GlobalSlots g)
    {
        var c = Config;
        int h = c.HiddenSize, i = c.IntermediateSize;
        g.Embed = (int)layout.Add("gpt_neox.embed_in.weight", c.VocabSize, h);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"gpt_neox.layers.{l}.";
            ref var s = ref layers[l];
            s.Ln1W = (int)layout.Add(p + "input_layernorm.weight", h);
            s.Ln1B = (int)layout.Add(p + "input_layernorm.bias", h);
            s.Ln2W = (int)layout.Add(p + "post_attention_layernorm.weight", h);
            s.Ln2B = (int)layout.Add(p + "post_attention_layernorm.bias", h);
            s.QkvW = (int)layout.Add(p + "attention.query_key_value.weight", 3 * h, h);
            s.QkvB = c.QkvBias ? (int)layout.Add(p + "attention.query_key_value.bias", 3 * h) : -1;
            s.OW = (int)layout.Add(p + "attention.dense.weight", h, h);
            s.OB = c.OutputProjBias ? (int)layout.Add(p + "attention.dense.bias", h) : -1;
            s.UpW = (int)layout.Add(p + "mlp.dense_h_to_4h.weight", i, h);
            s.UpB = (int)layout.Add(p + "mlp.dense_h_to_4h.bias", i);
            s.DownW = (int)layout.Add(p + "mlp.dense_4h_to_h.weight", h, i);
            s.DownB = (int)layout.Add(p + "mlp.dense_4h_to_h.bias", h);
        }
        g.NormW = (int)layout.Add("gpt_neox.final_layer_norm.weight", h);
        g.NormB = (int)layout.Add("gpt_neox.final_layer_norm.bias", h);
        g.HeadB = -1;
        switch (c.Head)
        {
            case ModelHead.CausalLm:
                g.HeadW = c.TieWordEmbeddings ? g.Embed : (int)layout.Add("embed_out.weight", c.VocabSize, h);
                break;
            case ModelHead.SequenceClassification:
                g.HeadW = (int)layout.Add("score.weight", c.NumLabels, h);
                break;
            default:
                g.HeadW = (int)layout.Add("out_proj.weight", 1, h);
                g.HeadB = (int)layout.Add("out_proj.bias", 1);
                break;
        }
    }

    /// <summary>Buffers HF may store that are not parameters.</summary>
    internal override bool IsKnownBuffer(string name) =>
        name.EndsWith(".attention.bias", StringComparison.Ordinal) || name.EndsWith(".attention.masked_bias", StringComparison.Ordinal)
        || name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);
}
