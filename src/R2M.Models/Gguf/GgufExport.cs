using R2M.Tensors;

namespace R2M.Models.Gguf;

/// <summary>
/// Exports a model to GGUF for llama.cpp, so llama.cpp can run the very weights we run (the
/// benchmark peer). GPT-NeoX causal LMs only: architecture "gptneox" with llama.cpp's hyper-parameter
/// keys and tensor names (token_embd, blk.N.attn_norm / attn_qkv / attn_output / ffn_norm / ffn_up /
/// ffn_down, output_norm, output). llama.cpp expects the fused qkv as [all q | all k | all v] rows,
/// while HF's query_key_value is per-head interleaved [h0: q k v | h1: q k v ...]: rows are regrouped
/// here (as llama.cpp's own converter does). Matrices and embeddings are written at the chosen
/// precision, norms and biases in f32. The vocabulary is synthetic (the benchmark model has no
/// tokenizer and llama.cpp is fed token ids): a SentencePiece-style ("llama") list of V tokens -
/// &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens, then placeholders - which llama.cpp loads without merges.
/// </summary>
public static class GgufExport
{
    public static void WriteGptNeoX(TransformerModel model, string path, WeightPrecision precision)
    {
        ArgumentNullException.ThrowIfNull(model);
        var c = model.Config;
        if (c.Family != ModelFamily.GptNeoX || c.Head != ModelHead.CausalLm)
            throw new NotSupportedException($"GGUF export supports GPT-NeoX causal LMs only (got {c.ModelType}, head {c.Head})");
        var w = new GgufWriter();
        w.Add("general.architecture", "gptneox");
        w.Add("general.name", "r2m-gptneox");
        w.Add("general.file_type", precision switch { WeightPrecision.F32 => 0u, WeightPrecision.F16 => 1u, _ => 32u });
        w.Add("gptneox.context_length", (uint)c.MaxPositionEmbeddings);
        w.Add("gptneox.embedding_length", (uint)c.HiddenSize);
        w.Add("gptneox.block_count", (uint)c.NumLayers);
        w.Add("gptneox.feed_forward_length", (uint)c.IntermediateSize);
        w.Add("gptneox.attention.head_count", (uint)c.NumHeads);
        w.Add("gptneox.attention.layer_norm_epsilon", (float)c.NormEps);
        w.Add("gptneox.rope.dimension_count", (uint)c.RotaryDims);
        w.Add("gptneox.rope.freq_base", (float)c.RopeTheta);
        w.Add("gptneox.use_parallel_residual", c.UseParallelResidual);
        AddVocabulary(w, c.VocabSize);

        void Tensor(string name, string hf, WeightPrecision p, Func<float[], float[]>? transform = null)
        {
            var e = model.Layout[hf];
            w.AddTensor(name, e.Shape.Select(d => (long)d).ToArray(), p, () =>
            {
                var values = model.Parameters.AsSpan((int)e.Offset, (int)e.Size).ToArray();
                return transform is null ? values : transform(values);
            });
        }

        Tensor("token_embd.weight", "gpt_neox.embed_in.weight", precision);
        for (var l = 0; l < c.NumLayers; l++)
        {
            var hf = $"gpt_neox.layers.{l}.";
            var gg = $"blk.{l}.";
            Tensor(gg + "attn_norm.weight", hf + "input_layernorm.weight", WeightPrecision.F32);
            Tensor(gg + "attn_norm.bias", hf + "input_layernorm.bias", WeightPrecision.F32);
            Tensor(gg + "attn_qkv.weight", hf + "attention.query_key_value.weight", precision, x => RegroupQkv(model, x, c.HiddenSize));
            if (c.QkvBias)
                Tensor(gg + "attn_qkv.bias", hf + "attention.query_key_value.bias", WeightPrecision.F32, x => RegroupQkv(model, x, 1));
            Tensor(gg + "attn_output.weight", hf + "attention.dense.weight", precision);
            if (c.OutputProjBias)
                Tensor(gg + "attn_output.bias", hf + "attention.dense.bias", WeightPrecision.F32);
            Tensor(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", WeightPrecision.F32);
            Tensor(gg + "ffn_norm.bias", hf + "post_attention_layernorm.bias", WeightPrecision.F32);
            Tensor(gg + "ffn_up.weight", hf + "mlp.dense_h_to_4h.weight", precision);
            Tensor(gg + "ffn_up.bias", hf + "mlp.dense_h_to_4h.bias", WeightPrecision.F32);
            Tensor(gg + "ffn_down.weight", hf + "mlp.dense_4h_to_h.weight", precision);
            Tensor(gg + "ffn_down.bias", hf + "mlp.dense_4h_to_h.bias", WeightPrecision.F32);
        }
        Tensor("output_norm.weight", "gpt_neox.final_layer_norm.weight", WeightPrecision.F32);
        Tensor("output_norm.bias", "gpt_neox.final_layer_norm.bias", WeightPrecision.F32);
        // llama.cpp requires output.weight; a tied head is written as a copy of the embedding.
        Tensor("output.weight", c.TieWordEmbeddings ? "gpt_neox.embed_in.weight" : "embed_out.weight", precision);
        w.Write(path);
    }

    /// <summary>(3C, cols) rows of HF's per-head [q k v] interleave -> [all q | all k | all v].</summary>
    private static float[] RegroupQkv(TransformerModel model, float[] x, int cols)
    {
        var c = model.Config;
        int hd = c.HeadDim, hidden = c.NumHeads * hd;
        var y = new float[x.Length];
        for (var part = 0; part < 3; part++)
            for (var h = 0; h < c.NumHeads; h++)
                x.AsSpan((model.QkvColumn(part, h)) * cols, hd * cols).CopyTo(y.AsSpan((part * hidden + h * hd) * cols, hd * cols));
        return y;
    }

    private static void AddVocabulary(GgufWriter w, int vocab)
    {
        var tokens = new string[vocab];
        var scores = new float[vocab];
        var types = new int[vocab];
        for (var i = 0; i < vocab; i++)
        {
            (tokens[i], types[i]) = i switch
            {
                0 => ("<unk>", 2),
                1 => ("<s>", 3),
                2 => ("</s>", 3),
                < 259 => ($"<0x{i - 3:X2}>", 6),
                _ => ($"\u2581t{i}", 1),
            };
            scores[i] = i < 3 ? 0f : -i;
        }
        w.Add("tokenizer.ggml.model", "llama");
        w.Add("tokenizer.ggml.tokens", tokens);
        w.Add("tokenizer.ggml.scores", scores);
        w.Add("tokenizer.ggml.token_type", types);
        w.Add("tokenizer.ggml.bos_token_id", 1u);
        w.Add("tokenizer.ggml.eos_token_id", 2u);
        w.Add("tokenizer.ggml.unknown_token_id", 0u);
    }
}
