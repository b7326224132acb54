using R2M.Models.Safetensors;
using R2M.Tensors;

namespace R2M.Models;

public static partial class ModelCheckpoint
{
    /// <summary>
    /// Loads a checkpoint for serving only (generation, scoring; no training): the projection matrices
    /// and the untied LM head go straight into <paramref name="precision"/> storage - bf16/f16 tensors
    /// of that precision are copied as bytes, never widened to f32; f32 tensors are rounded to nearest
    /// even. Embeddings, norms and biases are held in f32. The model's <see cref="TransformerModel.ServeOnly"/>
    /// is true. Same validation and errors as <see cref="Load"/>. F32 is a plain <see cref="Load"/>.
    /// </summary>
    public static TransformerModel LoadForInference(string directory, WeightPrecision precision)
    {
        if (precision == WeightPrecision.F32)
            return Load(directory);
        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        var model = TransformerModel.Create(config);
        model.PrepareServeOnly(precision);
        using var reader = CheckpointReader.Open(directory);
        LoadWeights(model, reader);
        return model;
    }
}
