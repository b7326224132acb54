using System.Text;
using System.Text.Json;

namespace R2M.Client.Training;

/// <summary>A training prompt from a user's JSONL file: <c>{"prompt": "...", "id": "..."}</c> (id optional).</summary>
public sealed record PromptRecord(string Prompt, string? Id);

/// <summary>A held-out preference pair: <c>{"prompt": "...", "chosen": "...", "rejected": "...", "id": "..."}</c> (id optional).</summary>
public sealed record PairRecord(string Prompt, string Chosen, string Rejected, string? Id);

/// <summary>
/// Reads the user's JSONL files (JSON Lines: one UTF-8 JSON object per line, blank lines skipped).
/// Every failure is an <see cref="InvalidDataException"/> naming the file and the 1-based line:
/// invalid UTF-8, invalid JSON, a line that is not an object, a missing or non-string required
/// field, an unknown field (so a typo such as "promt" is not silently ignored).
/// </summary>
public static class JsonlFile
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static IReadOnlyList<PromptRecord> ReadPrompts(string path) =>
        Read(path, ["prompt", "id"], (o, at) => new PromptRecord(Required(o, "prompt", at), Optional(o, "id", at)));

    public static IReadOnlyList<PairRecord> ReadPairs(string path) =>
        Read(path, ["prompt", "chosen", "rejected", "id"],
            (o, at) => new PairRecord(Required(o, "prompt", at), Required(o, "chosen", at), Required(o, "rejected", at), Optional(o, "id", at)));

    private static List<T> Read<T>(string path, string[] fields, Func<JsonElement, string, T> parse)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }

        // Lines are split on bytes and decoded one by one, so an invalid UTF-8 sequence is
        // reported on its own line (a StreamReader decodes whole buffers ahead of the line).
        byte[] bytes = File.ReadAllBytes(path);
        var records = new List<T>();
        int lineNumber = 0;
        for (int start = 0; start < bytes.Length; lineNumber++)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            if (end < 0)
            {
                end = bytes.Length;
            }

            string at = $"{path}:{lineNumber + 1}";
            ReadOnlySpan<byte> raw = bytes.AsSpan(start, end - start).TrimEnd((byte)'\r');
            if (lineNumber == 0 && raw.StartsWith("\uFEFF"u8))
            {
                raw = raw[3..]; // a UTF-8 byte-order mark is tolerated, as some editors write one
            }

            start = end + 1;
            string line;
            try
            {
                line = StrictUtf8.GetString(raw);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"{at}: not valid UTF-8 ({e.Message})", e);
            }

            if (!string.IsNullOrWhiteSpace(line))
            {
                records.Add(ParseLine(line, at, fields, parse));
            }
        }

        if (records.Count == 0)
        {
            throw new InvalidDataException($"{path}: no records (expected one JSON object per line)");
        }

        return records;
    }

    private static T ParseLine<T>(string line, string at, string[] fields, Func<JsonElement, string, T> parse)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{at}: not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            JsonElement o = doc.RootElement;
            if (o.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{at}: expected a JSON object, got {o.ValueKind}");
            }

            foreach (JsonProperty p in o.EnumerateObject())
            {
                if (!fields.Contains(p.Name, StringComparer.Ordinal))
                {
                    throw new InvalidDataException($"{at}: unknown field \"{p.Name}\" (expected {string.Join(", ", fields.Select(f => '"' + f + '"'))})");
                }
            }

            return parse(o, at);
        }
    }

    private static string Required(JsonElement o, string name, string at) =>
        Optional(o, name, at) is { Length: > 0 } s ? s : throw new InvalidDataException($"{at}: field \"{name}\" is required and must be a non-empty string");

    private static string? Optional(JsonElement o, string name, string at)
    {
        if (!o.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : throw new InvalidDataException($"{at}: field \"{name}\" must be a string, got {v.ValueKind}");
    }
}
