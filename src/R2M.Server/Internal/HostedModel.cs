using Microsoft.Extensions.Logging;
using R2M.Api.V1;
using R2M.Models;
using R2M.Tokenizers;

namespace R2M.Server.Internal;

/// <summary>
/// One model loaded from a HuggingFace-format directory with its own tokenizer. TransformerModel is
/// not thread-safe, so every forward/backward of the weights it serves runs under <see cref="Gate"/>
/// (the policy serves <see cref="Model"/> and a second copy in turn, see <see cref="PolicyHost"/>).
/// </summary>
internal sealed class HostedModel
{
    private HostedModel(string name, string directory, TransformerModel model, Tokenizer tokenizer, string tokenizerPath)
    {
        Name = name;
        Directory = directory;
        Model = model;
        Tokenizer = tokenizer;
        TokenizerPath = tokenizerPath;
        var c = model.Config;
        EosTokenId = c.EosTokenIds.Length > 0 ? c.EosTokenIds[0] : tokenizer.TokenToId("<eos>") ?? tokenizer.TokenToId("</s>") ?? -1;
        EosTokenIds = c.EosTokenIds.Length > 0 ? c.EosTokenIds : EosTokenId >= 0 ? [EosTokenId] : [];
        PadTokenId = c.PadTokenId ?? -1;
        BosTokenId = c.BosTokenId ?? -1;
    }

    public string Name { get; }
    public string Directory { get; }
    public TransformerModel Model { get; }
    public Tokenizer Tokenizer { get; }
    public string TokenizerPath { get; }
    public SemaphoreSlim Gate { get; } = new(1, 1);
    public int EosTokenId { get; }

    /// <summary>Every token that ends a response (config eos_token_id, a list in Llama-3 configs).</summary>
    public int[] EosTokenIds { get; }
    public int PadTokenId { get; }
    public int BosTokenId { get; }
    public int Width => Model.Config.HiddenSize;
    public int VocabSize => Model.Config.VocabSize;
    public int ContextLength => Model.Config.MaxPositionEmbeddings;

    /// <summary>
    /// Loads config.json + safetensors + tokenizer.json; errors name the file (CheckpointException,
    /// TokenizerFormatException); loading warnings (e.g. a tied model's ignored head tensor) go to <paramref name="logger"/>.
    /// </summary>
    public static HostedModel Load(string directory, string role, ILogger logger)
    {
        var full = Path.GetFullPath(directory);
        if (!System.IO.Directory.Exists(full))
        {
            throw new DirectoryNotFoundException($"{role} directory '{full}' does not exist");
        }

        var model = ModelCheckpoint.Load(full, logger);
        var tokPath = Path.Combine(full, "tokenizer.json");
        if (!File.Exists(tokPath))
        {
            throw new FileNotFoundException($"'{tokPath}' not found: every hosted model needs its own tokenizer.json", tokPath);
        }

        return new HostedModel(Path.GetFileName(full.TrimEnd(Path.DirectorySeparatorChar)), full, model, Tokenizer.FromFile(tokPath), tokPath);
    }

    /// <summary>A second instance with the same weights (the frozen reference policy).</summary>
    public HostedModel CloneFrozen() => new(Name + " (reference)", Directory, CopyOf(Model), Tokenizer, TokenizerPath);

    /// <summary>A new model of the same config with a copy of the weights.</summary>
    public static TransformerModel CopyOf(TransformerModel model)
    {
        var copy = TransformerModel.Create(model.Config);
        model.Parameters.CopyTo(copy.Parameters, 0);
        return copy;
    }

    /// <summary>Checks model-vocabulary token ids and the context length; the message names the field.</summary>
    public void CheckTokens(ReadOnlySpan<int> ids, string field)
    {
        for (var i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)VocabSize)
            {
                throw new InvalidInputException($"{field}[{i}] = {ids[i]} is outside the {Name} vocabulary [0, {VocabSize})");
            }
        }
    }

    public void CheckLength(int length, string what)
    {
        if (length > ContextLength)
        {
            throw new InvalidInputException($"{what} has {length} tokens, longer than the {Name} context length {ContextLength}");
        }
    }

    public ModelInfo ToInfo() => new()
    {
        Name = Name,
        Architecture = Model.Config.ModelType,
        HiddenSize = (uint)Width,
        NumLayers = (uint)Model.Config.NumLayers,
        VocabSize = (uint)VocabSize,
        ContextLength = (uint)ContextLength,
        Tokenizer = TokenizerPath,
        BosTokenId = BosTokenId,
        EosTokenId = EosTokenId,
        PadTokenId = PadTokenId,
        ParameterCount = (ulong)Model.ParameterCount,
    };
}
