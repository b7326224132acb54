using System.Reflection;
using System.Text.Json;

namespace R2M.Client.Training;

/// <summary>
/// Key checks of the JSON config files (<c>--config</c>): keys are the <see cref="SettingAttribute"/>
/// properties in camelCase, compared case-insensitively, and every error names the file and the key
/// in the user's words, not System.Text.Json's ("could not be mapped to any .NET member").
/// </summary>
internal static class ConfigKeys
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>The config keys of <typeparamref name="T"/>: "policyLr", "omegaFloor", ...</summary>
    public static IReadOnlyList<string> Known<T>() =>
        typeof(T).GetProperties().Where(p => p.GetCustomAttribute<SettingAttribute>() is not null)
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)).ToArray();

    /// <summary>Throws <see cref="InvalidDataException"/> for invalid JSON, a non-object, or an unknown key (with the nearest known one).</summary>
    public static void Check<T>(string json, string path)
    {
        IReadOnlyList<string> known = Known<T>();
        foreach (string key in Keys(json, path))
        {
            if (!known.Contains(key, StringComparer.OrdinalIgnoreCase))
            {
                string? near = Nearest(key, known);
                throw new InvalidDataException($"unknown key '{key}' in {path}" +
                    (near is null ? $"; the keys are the flags in camelCase: {string.Join(", ", known)}" : $"; did you mean '{near}'?"));
            }
        }
    }

    /// <summary>The keys present, canonical camelCase spelling where known (for merging onto defaults).</summary>
    public static HashSet<string> Present(string json) => Keys(json, "config").ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>A deserialization error as "config file F: key 'k': ...", without .NET type names.</summary>
    public static InvalidDataException ValueError<T>(string path, JsonException e)
    {
        string key = e.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : "";
        PropertyInfo? property = typeof(T).GetProperties().FirstOrDefault(x => string.Equals(x.Name, key, StringComparison.OrdinalIgnoreCase));
        if (property is null)
        {
            return new InvalidDataException($"config file {path}: {e.Message}", e);
        }

        Type t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        string expected = t == typeof(bool) ? "true or false" : t == typeof(string) ? "a string" : t == typeof(double) ? "a number" : "an integer";
        return new InvalidDataException($"config file {path}: key '{key}' must be {expected}{(Nullable.GetUnderlyingType(property.PropertyType) is null ? "" : " or null")}", e);
    }

    /// <summary>The known key closest to <paramref name="key"/>, if it is plausibly a typo (<see cref="Api.NameSuggestions"/>).</summary>
    internal static string? Nearest(string key, IReadOnlyList<string> known) => Api.NameSuggestions.Nearest(key, known);

    private static IEnumerable<string> Keys(string json, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, DocumentOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"config file {path}: not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"config file {path}: expected a JSON object of settings, got {doc.RootElement.ValueKind}");
            }

            return doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        }
    }
}
