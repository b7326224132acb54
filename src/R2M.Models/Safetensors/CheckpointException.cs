namespace R2M.Models.Safetensors;

/// <summary>
/// A checkpoint (safetensors file, shard index or config.json) is corrupt or does not match the
/// model it is loaded into. The message always names the file and, where one is involved, the tensor.
/// </summary>
public class CheckpointException : Exception
{
    public CheckpointException(string file, string? tensor, string problem, Exception? inner = null)
        : base(Format(file, tensor, problem), inner)
    {
        FilePath = file;
        TensorName = tensor;
    }

    /// <summary>The file that was being read or written.</summary>
    public string FilePath { get; }

    /// <summary>The tensor concerned, or null when the problem is about the file as a whole.</summary>
    public string? TensorName { get; }

    private static string Format(string file, string? tensor, string problem) =>
        tensor is null ? $"{file}: {problem}" : $"{file}: tensor '{tensor}': {problem}";
}

/// <summary>A safetensors file breaks the format rules (huggingface/safetensors format).</summary>
public sealed class SafetensorsException : CheckpointException
{
    public SafetensorsException(string file, string? tensor, string problem, Exception? inner = null)
        : base(file, tensor, problem, inner)
    {
    }
}
