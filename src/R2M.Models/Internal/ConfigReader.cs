using System.Text.Json;
using System.Text.Json.Nodes;
using R2M.Models.Safetensors;

namespace R2M.Models;

/// <summary>
/// Typed, strict reads of config.json fields: absent or null gives null; any other JSON type than
/// the one asked for is a <see cref="CheckpointException"/> naming the file and the field.
/// </summary>
internal sealed class ConfigReader(JsonObject o, string path, string prefix = "")
{
    public string? Str(string key) => Value(key) is not { } v ? null
        : v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw Wrong(key, "a string", v);

    public bool? Bool(string key) => Value(key) is not { } v ? null
        : v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>() : throw Wrong(key, "true or false", v);

    public double? Dbl(string key) => Dbl(o, key, path, prefix);

    public int? Int(string key) => Value(key) is not { } v ? null : AsInt(key, v);

    /// <summary>A required integer that must be positive.</summary>
    public int Positive(string key)
    {
        var n = Int(key) ?? throw Missing(key);
        return n > 0 ? n : throw new CheckpointException(path, null, $"config field '{prefix}{key}' is {n}; it must be positive");
    }

    public JsonObject? Obj(string key) => o[key] switch
    {
        null => null,
        JsonObject x => x,
        var v => throw Wrong(key, "an object", v),
    };

    public IEnumerable<string> Strings(string key) => o[key] switch
    {
        null => [],
        JsonArray a => a.Select((x, i) => x is JsonValue s && s.GetValueKind() == JsonValueKind.String
            ? s.GetValue<string>()
            : throw Wrong($"{key}[{i}]", "a string", x)).ToList(),
        var v => throw Wrong(key, "an array of strings", v),
    };

    /// <summary><c>eos_token_id</c>: one integer or a list of them.</summary>
    public int[] IntOrInts(string key) => o[key] switch
    {
        null => [],
        JsonArray a => a.Select((x, i) => x is JsonValue v ? AsInt($"{key}[{i}]", v) : throw Wrong($"{key}[{i}]", "an integer", x)).ToArray(),
        JsonValue v => [AsInt(key, v)],
        var v => throw Wrong(key, "an integer or a list of integers", v),
    };

    public CheckpointException Missing(string key) => new(path, null, $"config field '{prefix}{key}' is missing");

    public static double? Dbl(JsonObject? o, string key, string path, string prefix)
    {
        if (o?[key] is not { } node) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d)) return d;
        throw new CheckpointException(path, null, $"config field '{prefix}{key}' must be a number, not {Describe(node)}");
    }

    private JsonValue? Value(string key) => o[key] switch
    {
        null => null,
        JsonValue v => v,
        var v => throw Wrong(key, "a value", v),
    };

    private int AsInt(string key, JsonValue v)
    {
        if (v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
            return (int)d;
        throw Wrong(key, "an integer", v);
    }

    private CheckpointException Wrong(string key, string expected, JsonNode? node) =>
        new(path, null, $"config field '{prefix}{key}' must be {expected}, not {Describe(node)}");

    private static string Describe(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "null";
        var kind = node?.GetValueKind() switch
        {
            JsonValueKind.String => "a string",
            JsonValueKind.Number => "the number",
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            _ => "",
        };
        return $"{kind} {(text.Length > 40 ? text[..40] + "..." : text)}".Trim();
    }
}
