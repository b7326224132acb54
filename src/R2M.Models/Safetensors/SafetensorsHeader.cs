using System.Text;
using System.Text.Json;

namespace R2M.Models.Safetensors;

/// <summary>
/// Parses and validates a safetensors header the way the reference reader does
/// (huggingface/safetensors src/tensor.rs).
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>The reference reader refuses headers larger than this.</summary>
    public const long MaxHeaderLength = 100_000_000;

    public static (List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        string file, ReadOnlySpan<byte> json, long dataLength)
    {
        var tensors = new List<SafetensorsTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        // The format requires a UTF-8 header; System.Text.Json would only notice when a string is read.
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new SafetensorsException(file, null, "header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new SafetensorsException(file, null, $"header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsException(file, null, "header JSON is not an object");
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw new SafetensorsException(file, prop.Name, "duplicate key in header");
                if (prop.Name == "__metadata__")
                    ReadMetadata(file, prop.Value, metadata);
                else
                    tensors.Add(ReadTensor(file, prop.Name, prop.Value));
            }
        }
        ValidateLayout(file, tensors, dataLength);
        return (tensors, metadata);
    }

    private static void ReadMetadata(string file, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(file, null, "__metadata__ must be an object of strings");
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsException(file, null, $"__metadata__ value '{p.Name}' is not a string");
            metadata[p.Name] = p.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string file, string name, JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new SafetensorsException(file, name, "header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new SafetensorsException(file, name, "missing or non-string 'dtype'");
        if (!SafetensorsDtypes.TryParse(dt.GetString()!, out var dtype))
            throw new SafetensorsException(file, name, $"unknown dtype '{dt.GetString()}'");
        var shape = ReadLongArray(file, name, e, "shape", -1);
        var offsets = ReadLongArray(file, name, e, "data_offsets", 2);
        if (offsets[1] < offsets[0])
            throw new SafetensorsException(file, name, $"data_offsets [{offsets[0]}, {offsets[1]}] end before begin");
        var info = new SafetensorsTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
        long bytes;
        try
        {
            bytes = checked(info.ElementCount * SafetensorsDtypes.Size(dtype));
        }
        catch (OverflowException)
        {
            throw new SafetensorsException(file, name, $"shape {info.ShapeText} is too large");
        }
        if (bytes != info.End - info.Begin)
            throw new SafetensorsException(file, name,
                $"shape {info.ShapeText} of {SafetensorsDtypes.Name(dtype)} needs {bytes} bytes but data_offsets span {info.End - info.Begin}");
        return info;
    }

    private static long[] ReadLongArray(string file, string name, JsonElement e, string key, int expectedLength)
    {
        if (!e.TryGetProperty(key, out var arr) || arr.ValueKind != JsonValueKind.Array)
            throw new SafetensorsException(file, name, $"missing or non-array '{key}'");
        var result = new long[arr.GetArrayLength()];
        if (expectedLength >= 0 && result.Length != expectedLength)
            throw new SafetensorsException(file, name, $"'{key}' must have {expectedLength} entries");
        var i = 0;
        foreach (var v in arr.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x) || x < 0)
                throw new SafetensorsException(file, name, $"'{key}' holds a value that is not a non-negative integer");
            result[i++] = x;
        }
        return result;
    }

    /// <summary>Sorted by offset, first at 0, no holes or overlaps, last end == data length.</summary>
    private static void ValidateLayout(string file, List<SafetensorsTensorInfo> tensors, long dataLength)
    {
        var sorted = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
        long expected = 0;
        foreach (var t in sorted)
        {
            if (t.End > dataLength)
                throw new SafetensorsException(file, t.Name,
                    $"data_offsets [{t.Begin}, {t.End}] run past the end of the data ({dataLength} bytes; file truncated?)");
            if (t.Begin != expected)
                throw new SafetensorsException(file, t.Name,
                    t.Begin < expected
                        ? $"data_offsets [{t.Begin}, {t.End}] overlap the previous tensor (which ends at {expected})"
                        : $"data_offsets [{t.Begin}, {t.End}] leave a hole after offset {expected}");
            expected = t.End;
        }
        if (expected != dataLength)
            throw new SafetensorsException(file, null,
                $"tensors end at data offset {expected} but the data buffer holds {dataLength} bytes");
    }

    /// <summary>Serializes a header padded with spaces to a multiple of 8 bytes.</summary>
    public static byte[] Serialize(IEnumerable<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata)
                    w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", SafetensorsDtypes.Name(t.Dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape)
                    w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(t.Begin);
                w.WriteNumberValue(t.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        var bytes = ms.ToArray();
        var padded = (bytes.Length + 7) / 8 * 8;
        var result = new byte[padded];
        bytes.CopyTo(result, 0);
        Array.Fill(result, (byte)' ', bytes.Length, padded - bytes.Length);
        return result;
    }

    public static string Describe(ReadOnlySpan<byte> json) => Encoding.UTF8.GetString(json);
}
