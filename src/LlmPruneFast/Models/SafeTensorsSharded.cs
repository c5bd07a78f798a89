using System.Text.Json;

namespace LlmPruneFast.Models;

/// <summary>
/// A sharded safetensors checkpoint: <c>model.safetensors.index.json</c>, whose <c>weight_map</c> names the shard
/// file (in the same folder) of every tensor, read as one <see cref="ITensorSource"/>. Owns its shards.
/// </summary>
public sealed class SafeTensorsSharded : IRawTensorSource
{
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafeTensorsFile> _shardOf;
    private readonly List<SafeTensorsFile> _shards;
    private readonly string[] _names;

    public string IndexPath { get; }
    public IReadOnlyList<SafeTensorsFile> Shards => _shards;
    public IReadOnlyCollection<string> Names => _names;

    private SafeTensorsSharded(string indexPath, Dictionary<string, SafeTensorsFile> shardOf, List<SafeTensorsFile> shards, string[] names)
    {
        IndexPath = indexPath;
        _shardOf = shardOf;
        _shards = shards;
        _names = names;
    }

    /// <summary>Opens every shard named by <paramref name="indexPath"/> and checks each mapped tensor is in its shard.</summary>
    /// <exception cref="MissingInputException">The index or a shard does not exist.</exception>
    /// <exception cref="BadModelFileException">The index is malformed or a shard lacks a tensor mapped to it.</exception>
    public static SafeTensorsSharded Open(string indexPath)
    {
        indexPath = Path.GetFullPath(indexPath);
        if (!File.Exists(indexPath)) throw new MissingInputException($"safetensors index '{indexPath}' does not exist");
        string folder = Path.GetDirectoryName(indexPath)!;
        var map = ReadWeightMap(indexPath);

        var shards = new List<SafeTensorsFile>();
        try
        {
            var byFile = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            var shardOf = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shardName) in map)
            {
                if (!byFile.TryGetValue(shardName, out var shard))
                {
                    shard = SafeTensorsFile.Open(Path.Combine(folder, shardName));
                    shards.Add(shard);
                    byFile[shardName] = shard;
                }
                if (!shard.Contains(tensor))
                    throw new BadModelFileException($"safetensors index '{indexPath}': tensor '{tensor}' is mapped to '{shardName}', which does not hold it as F32/F16/BF16");
                shardOf[tensor] = shard;
            }
            return new SafeTensorsSharded(indexPath, shardOf, shards, map.Select(m => m.Tensor).ToArray());
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    private static List<(string Tensor, string Shard)> ReadWeightMap(string indexPath)
    {
        try
        {
            var bytes = File.ReadAllBytes(indexPath);
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new BadModelFileException($"safetensors index '{indexPath}' is not valid UTF-8");
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowDuplicateProperties = false });
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new BadModelFileException($"safetensors index '{indexPath}' has no 'weight_map' object");
            var map = new List<(string, string)>();
            foreach (var p in wm.EnumerateObject())
            {
                string shard = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : "";
                // A shard is a plain file name beside the index: refuse paths that would leave the folder.
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or "..")
                    throw new BadModelFileException($"safetensors index '{indexPath}': tensor '{p.Name}' maps to '{p.Value.GetRawText()}', expected a shard file name in the same folder");
                map.Add((p.Name, shard));
            }
            return map;
        }
        catch (JsonException ex)
        {
            throw new BadModelFileException($"safetensors index '{indexPath}' is not valid JSON: {ex.Message}", ex);
        }
        catch (InvalidOperationException ex) // a string JSON cannot decode (a lone surrogate escape)
        {
            throw new BadModelFileException($"safetensors index '{indexPath}': {ex.Message}", ex);
        }
    }

    public bool Contains(string name) => _shardOf.ContainsKey(name);

    public TensorInfo GetInfo(string name) => Shard(name).GetInfo(name);

    public float[] ReadFloat32(string name) => Shard(name).ReadFloat32(name);

    public ReadOnlySpan<byte> RawBytes(string name, long byteOffset, int byteLength) => Shard(name).RawBytes(name, byteOffset, byteLength);

    public bool ReleasePages(string name) => Shard(name).ReleasePages(name);

    private SafeTensorsFile Shard(string name) => _shardOf.TryGetValue(name, out var s) ? s
        : throw new BadModelFileException($"safetensors index '{IndexPath}': tensor '{name}' not found");

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
    }
}

/// <summary>Opens the safetensors weights of a checkpoint folder, single-file or sharded.</summary>
public static class SafeTensorsFolder
{
    public const string SingleFileName = "model.safetensors";

    /// <summary>
    /// <c>model.safetensors</c> when present, else <c>model.safetensors.index.json</c> and its shards.
    /// </summary>
    /// <exception cref="MissingInputException">Neither file exists in <paramref name="directory"/>.</exception>
    public static ITensorSource Open(string directory)
    {
        string single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single)) return SafeTensorsFile.Open(single);
        string index = Path.Combine(directory, SafeTensorsSharded.IndexFileName);
        if (File.Exists(index)) return SafeTensorsSharded.Open(index);
        throw new MissingInputException($"checkpoint folder '{directory}' has neither {SingleFileName} nor {SafeTensorsSharded.IndexFileName}");
    }
}
