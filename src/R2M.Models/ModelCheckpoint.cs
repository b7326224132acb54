using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using R2M.Models.Internal;
using R2M.Models.Safetensors;

namespace R2M.Models;

/// <summary>
/// Loads and saves a model directory in HuggingFace layout: <c>config.json</c> plus
/// <c>model.safetensors</c> (or shards with <c>model.safetensors.index.json</c>).
/// </summary>
public static partial class ModelCheckpoint
{
    /// <summary>
    /// Reads config.json, builds the family it names and loads every parameter. Throws
    /// <see cref="CheckpointException"/> naming the file and tensor when a tensor is missing, has the
    /// wrong shape for the config, an unusable dtype, or is unexpected (known buffers are ignored).
    /// </summary>
    /// <param name="logger">Receives warnings about tensors that load but are ignored (a tied model's own head).</param>
    public static TransformerModel Load(string directory, ILogger? logger = null)
    {
        var configPath = Path.Combine(directory, "config.json");
        var config = ModelConfig.Load(configPath);
        TransformerModel model;
        try
        {
            model = TransformerModel.Create(config);
        }
        catch (Exception e) when (e is NotSupportedException or OverflowException)
        {
            throw new CheckpointException(configPath, null, $"the model this config describes cannot be allocated ({e.Message})", e);
        }
        using var reader = CheckpointReader.Open(directory);
        LoadWeights(model, reader, logger);
        return model;
    }

    /// <summary>
    /// Copies every parameter of <paramref name="model"/> from <paramref name="reader"/> (f32/f16/bf16).
    /// With tie_word_embeddings the embedding is also the head, as in HuggingFace; a head tensor in
    /// the file is then ignored, with a warning through <paramref name="logger"/> when it differs.
    /// </summary>
    public static void LoadWeights(TransformerModel model, CheckpointReader reader, ILogger? logger = null)
    {
        foreach (var e in model.Layout.Entries)
        {
            var found = reader.Find(e.Name);
            if (found is not { } f)
            {
                throw new CheckpointException(DescribeFiles(reader), e.Name, $"missing from the checkpoint; the config needs shape {e.ShapeText}");
            }
            if (!f.Info.Shape.SequenceEqual(e.Shape.Select(d => (long)d)))
                throw new CheckpointException(f.File.FilePath, e.Name,
                    $"has shape {f.Info.ShapeText} but the config needs {e.ShapeText}");
            model.LoadParameter(e, f.File);
        }
        var tiedHead = model.Config.TieWordEmbeddings ? new[] { "lm_head.weight", "embed_out.weight" } : [];
        foreach (var name in reader.TensorNames)
        {
            if (model.Layout.Contains(name) || model.IsKnownBuffer(name))
                continue;
            if (tiedHead.Contains(name))
            {
                WarnIfTiedHeadDiffers(model, reader.Find(name)!.Value, logger ?? NullLogger.Instance);
                continue;
            }
            throw new CheckpointException(reader.Find(name)!.Value.File.FilePath, name,
                $"is not a parameter of this {model.Config.ModelType} model (unexpected tensor)");
        }
        model.AfterLoad();
    }

    private static void WarnIfTiedHeadDiffers(TransformerModel model, (SafetensorsFile File, SafetensorsTensorInfo Info) head, ILogger logger)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        var embedName = model.Layout.Entries.First(e => e.Name.EndsWith("embed_tokens.weight", StringComparison.Ordinal)
                                                        || e.Name.EndsWith("embed_in.weight", StringComparison.Ordinal)).Name;
        var embed = model.Parameter(embedName);
        var same = head.Info.ElementCount == embed.Length && head.Info.Dtype is SafetensorsDtype.F32 or SafetensorsDtype.F16 or SafetensorsDtype.BF16;
        var maxDiff = 0.0;
        if (same)
        {
            var values = head.File.ReadF32(head.Info.Name);
            for (var i = 0; i < values.Length; i++)
                maxDiff = Math.Max(maxDiff, Math.Abs((double)values[i] - embed[i]));
            same = maxDiff == 0;
        }
        if (!same)
            ModelsLog.TiedHeadIgnored(logger, head.File.FilePath, head.Info.Name, head.Info.ShapeText, maxDiff, embedName);
    }

    private static string DescribeFiles(CheckpointReader reader)
    {
        var files = reader.TensorNames.Select(n => reader.Find(n)!.Value.File.FilePath).Distinct().ToList();
        return files.Count == 1 ? files[0] : string.Join(", ", files);
    }

    /// <summary>Writes config.json and model.safetensors (f32 unless <paramref name="dtype"/> says F16/BF16), atomically each.</summary>
    public static void Save(TransformerModel model, string directory, SafetensorsDtype dtype = SafetensorsDtype.F32)
    {
        Directory.CreateDirectory(directory);
        var entries = model.Layout.Entries
            .Select(e => new SafetensorsEntry(e.Name, e.Shape.Select(d => (long)d).ToArray(),
                model.Parameters.AsMemory((int)e.Offset, (int)e.Size), dtype))
            .ToList();
        SafetensorsWriter.Write(Path.Combine(directory, CheckpointReader.SingleFileName), entries,
            new Dictionary<string, string> { ["format"] = "pt" });
        var configPath = Path.Combine(directory, "config.json");
        var tmp = configPath + ".tmp";
        File.WriteAllText(tmp, model.Config.ToJson());
        File.Move(tmp, configPath, overwrite: true);
    }
}
