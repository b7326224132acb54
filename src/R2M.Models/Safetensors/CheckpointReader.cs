using System.Text.Json;

namespace R2M.Models.Safetensors;

/// <summary>
/// The weights of one model: a single <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (its <c>weight_map</c>: tensor name -> shard file).
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, SafetensorsFile> _byTensor;

    private CheckpointReader(List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        _files = files;
        _byTensor = byTensor;
    }

    /// <summary>Every tensor name across all shards.</summary>
    public IReadOnlyCollection<string> TensorNames => _byTensor.Keys;

    /// <summary>Opens a directory (single file or index) or a single .safetensors file path.</summary>
    public static CheckpointReader Open(string path)
    {
        if (File.Exists(path) && path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return OpenIndex(path);
        if (File.Exists(path))
            return FromFiles([SafetensorsFile.Open(path)]);
        var single = Path.Combine(path, SingleFileName);
        var index = Path.Combine(path, IndexFileName);
        if (File.Exists(single))
            return FromFiles([SafetensorsFile.Open(single)]);
        if (File.Exists(index))
            return OpenIndex(index);
        throw new CheckpointException(path, null, $"neither {SingleFileName} nor {IndexFileName} found");
    }

    private static CheckpointReader FromFiles(List<SafetensorsFile> files)
    {
        var map = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        foreach (var f in files)
            foreach (var name in f.Tensors.Keys)
                if (!map.TryAdd(name, f))
                    throw new CheckpointException(f.FilePath, name, $"also present in {map[name].FilePath}");
        return new CheckpointReader(files, map);
    }

    private static CheckpointReader OpenIndex(string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, shard) in weightMap)
            {
                if (!files.TryGetValue(shard, out var f))
                {
                    var shardPath = Path.Combine(dir, shard);
                    if (Path.GetFileName(shard) != shard)
                        throw new CheckpointException(indexPath, tensor, $"shard '{shard}' is not a plain file name");
                    if (!File.Exists(shardPath))
                        throw new CheckpointException(indexPath, tensor, $"shard file '{shard}' not found");
                    f = SafetensorsFile.Open(shardPath);
                    files[shard] = f;
                }
                if (!f.Tensors.ContainsKey(tensor))
                    throw new CheckpointException(f.FilePath, tensor, $"listed in {IndexFileName} but absent from the shard");
                byTensor[tensor] = f;
            }
        }
        catch
        {
            foreach (var f in files.Values)
                f.Dispose();
            throw;
        }
        return new CheckpointReader(files.Values.ToList(), byTensor);
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        try
        {
            var bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes))
                throw new CheckpointException(indexPath, null, "not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes);
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new CheckpointException(indexPath, null, "missing 'weight_map' object");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointException(indexPath, p.Name, "weight_map value is not a file name");
                result[p.Name] = p.Value.GetString()!;
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new CheckpointException(indexPath, null, $"not valid JSON ({e.Message})", e);
        }
    }

    /// <summary>Header entry and owning file of a tensor; null when absent.</summary>
    public (SafetensorsFile File, SafetensorsTensorInfo Info)? Find(string name) =>
        _byTensor.TryGetValue(name, out var f) ? (f, f.Tensors[name]) : null;

    public void Dispose()
    {
        foreach (var f in _files)
            f.Dispose();
    }
}
