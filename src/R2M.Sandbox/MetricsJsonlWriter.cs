using System.Text.Json;
using System.Text.Json.Serialization;

namespace R2M.Sandbox;

/// <summary>
/// Appends one JSON object per line (JSON Lines) and flushes after each, so a crashed or
/// resumed run keeps every finished step. camelCase names; nulls omitted; non-finite numbers
/// are rejected (JSON has no NaN) with an error naming the record type.
/// </summary>
public sealed class MetricsJsonlWriter : IDisposable
{
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    private readonly StreamWriter _writer;
    private readonly Lock _lock = new();

    /// <summary>Opens <paramref name="path"/> for appending (creates it and its folder).</summary>
    public MetricsJsonlWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
        FilePath = path;
    }

    public string FilePath { get; }

    /// <summary>Writes one record as one line. Thread-safe.</summary>
    public void Write<T>(T record)
    {
        ArgumentNullException.ThrowIfNull(record);
        string line;
        try
        {
            line = JsonSerializer.Serialize(record, JsonOptions);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{typeof(T).Name} cannot be written as JSON (a NaN or infinite value?): {e.Message}", nameof(record), e);
        }
        lock (_lock)
        {
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }

    /// <summary>Reads every line of a JSONL file back; the error names the file and line.</summary>
    public static IReadOnlyList<T> ReadAll<T>(string path)
    {
        var records = new List<T>();
        int lineNumber = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                records.Add(JsonSerializer.Deserialize<T>(line, JsonOptions)
                    ?? throw new JsonException("the line is JSON null"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not a {typeof(T).Name} record: {e.Message}", e);
            }
        }
        return records;
    }

    public void Dispose() => _writer.Dispose();
}
