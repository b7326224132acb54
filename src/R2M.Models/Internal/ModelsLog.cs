using Microsoft.Extensions.Logging;

namespace R2M.Models.Internal;

/// <summary>Log messages of R2M.Models (one [LoggerMessage] class for the area).</summary>
internal static partial class ModelsLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Warning,
        Message = "{File}: tensor '{Tensor}' {Shape} differs from '{Embedding}' (max |difference| {MaxDifference}) but tie_word_embeddings " +
                  "is true, so it is ignored and the embedding is used as the output head, as HuggingFace does")]
    public static partial void TiedHeadIgnored(ILogger logger, string file, string tensor, string shape, double maxDifference, string embedding);
}
