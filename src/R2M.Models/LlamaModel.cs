namespace R2M.Models;

/// <summary>
/// Llama, Qwen2 and Qwen3 (transformers modeling_llama / modeling_qwen2 / modeling_qwen3): RMSNorm,
/// RoPE over head_dim (linear / llama3 scaling), GQA, gated MLP down(act(gate(x)) * up(x)), optional
/// q/k/v biases (Qwen2; attention_bias elsewhere), Qwen3's per-head q_norm / k_norm, tied embeddings.
/// q_proj, k_proj, v_proj are stored back to back so they form one fused [(nH+2nKV)*hd, H] matrix;
/// gate_proj and up_proj likewise form one [2I, H] matrix.
/// </summary>
public sealed class LlamaModel : TransformerModel
{
    public LlamaModel(ModelConfig config)
        : base(config)
    {
        if (config.Family != ModelFamily.Llama)
            throw new ArgumentException($"model_type '{config.ModelType}' is not a Llama/Qwen2/Qwen3 config", nameof(config));
    }

    internal override bool Gated => true;

    internal override bool Rms => true;

    internal override int QkvColumn(int part, int head)
    {
        int hd = Config.HeadDim, nH = Config.NumHeads, nKV = Config.NumKvHeads;
        return part switch
        {
            0 => head * hd,
            1 => (nH + head) * hd,
            _ => (nH + nKV + head) * hd,
        };
    }

    private protected override void BuildLayout(ParameterLayout layout, LayerSlots[] layers, ref GlobalSlots g)
    {
        var c = Config;
        int h = c.HiddenSize, i = c.IntermediateSize, qd = c.NumHeads * c.HeadDim, kvd = c.NumKvHeads * c.HeadDim;
        g.Embed = (int)layout.Add("model.embed_tokens.weight", c.VocabSize, h);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var p = $"model.layers.{l}.";
            ref var s = ref layers[l];
            s.Ln1W = (int)layout.Add(p + "input_layernorm.weight", h);
            s.Ln1B = -1;
            s.QkvW = (int)layout.Add(p + "self_attn.q_proj.weight", qd, h);
            layout.Add(p + "self_attn.k_proj.weight", kvd, h);
            layout.Add(p + "self_attn.v_proj.weight", kvd, h);
            s.QkvB = -1;
            if (c.QkvBias)
            {
                s.QkvB = (int)layout.Add(p + "self_attn.q_proj.bias", qd);
                layout.Add(p + "self_attn.k_proj.bias", kvd);
                layout.Add(p + "self_attn.v_proj.bias", kvd);
            }
            s.QNormW = s.KNormW = -1;
            if (c.QkNorm)
            {
                s.QNormW = (int)layout.Add(p + "self_attn.q_norm.weight", c.HeadDim);
                s.KNormW = (int)layout.Add(p + "self_attn.k_norm.weight", c.HeadDim);
            }
            s.OW = (int)layout.Add(p + "self_attn.o_proj.weight", h, qd);
            s.OB = c.OutputProjBias ? (int)layout.Add(p + "self_attn.o_proj.bias", h) : -1;
            s.Ln2W = (int)layout.Add(p + "post_attention_layernorm.weight", h);
            s.Ln2B = -1;
            s.UpW = (int)layout.Add(p + "mlp.gate_proj.weight", i, h);
            layout.Add(p + "mlp.up_proj.weight", i, h);
            s.UpB = -1;
            if (c.MlpBias)
            {
                s.UpB = (int)layout.Add(p + "mlp.gate_proj.bias", i);
                layout.Add(p + "mlp.up_proj.bias", i);
            }
            s.DownW = (int)layout.Add(p + "mlp.down_proj.weight", h, i);
            s.DownB = c.MlpBias ? (int)layout.Add(p + "mlp.down_proj.bias", h) : -1;
        }
        g.NormW = (int)layout.Add("model.norm.weight", h);
        g.NormB = -1;
        g.HeadB = -1;
        g.HeadW = c.Head == ModelHead.CausalLm
            ? c.TieWordEmbeddings ? g.Embed : (int)layout.Add("lm_head.weight", c.VocabSize, h)
            : (int)layout.Add("score.weight", c.NumLabels, h);
    }

    internal override bool IsKnownBuffer(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);
}
