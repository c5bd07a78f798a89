using System.Text.Json.Nodes;

namespace LlmPruneFast.Models.Llama;

/// <summary>How <see cref="LlamaCheckpointWriter.Write"/> writes a checkpoint beyond config, tensors and tokenizer.</summary>
public sealed record LlamaCheckpointWriteOptions
{
    /// <summary>Files copied unchanged under their own names (tokenizer_config.json, generation_config.json, ...).</summary>
    public IReadOnlyList<string> ExtraFiles { get; init; } = [];
    /// <summary>Input files and folders the output must not equal, lie inside or contain.</summary>
    public IReadOnlyList<string> InputPaths { get; init; } = [];
    /// <summary>The source config.json text whose keys this project does not own are kept.</summary>
    public string? BaseConfigJson { get; init; }
    /// <summary>Stored dtype per tensor; default float32 (<see cref="SafeTensorsWriter.AllFloat32"/>).</summary>
    public Func<TensorInfo, TensorDType>? StoreAs { get; init; }
    /// <summary>
    /// Shard size limit: weights over this many data bytes are written as shards of at most this many bytes
    /// (<c>model-00001-of-0000N.safetensors</c>) plus <c>model.safetensors.index.json</c>, as transformers'
    /// save_pretrained does; null = one model.safetensors whatever the size (unless <see cref="Sharded"/>).
    /// </summary>
    public long? MaxShardBytes { get; init; }
    /// <summary>Shard even when the weights fit in one shard (the source was sharded); the limit is then <see cref="MaxShardBytes"/> or <see cref="DefaultMaxShardBytes"/>.</summary>
    public bool Sharded { get; init; }

    /// <summary>transformers' default max_shard_size, "5GB" (5 x 10^9 bytes).</summary>
    public const long DefaultMaxShardBytes = PrunedOutputOptions.DefaultMaxShardBytes;

    /// <summary>Options that carry <paramref name="source"/>'s tokenizer files and config keys and protect its folder.</summary>
    public static LlamaCheckpointWriteOptions CarryFrom(LlamaCheckpoint source) => new()
    {
        ExtraFiles = source.CarriedFiles,
        InputPaths = [source.Directory],
        BaseConfigJson = source.ConfigJson,
    };
}

/// <summary>
/// Writes a Hugging Face LLaMA checkpoint folder that <see cref="LlamaCheckpoint.Open"/> and transformers'
/// LlamaForCausalLM read: config.json, model.safetensors (or shards + index), the tokenizer (tokenizer.model or
/// tokenizer.json), carried files, a generation_config.json when none is carried and, for a SentencePiece tokenizer, a
/// tokenizer_config.json when none is carried (a tokenizer.json's BOS rule may depend on its own config, so none is made up). The folder appears only when complete
/// (<see cref="AtomicOutputFolder"/>); on any failure nothing is left behind.
/// </summary>
public static class LlamaCheckpointWriter
{
    private static readonly string[] OwnedNames = [HfConfig.FileName, SafeTensorsFolder.SingleFileName, SafeTensorsSharded.IndexFileName];

    /// <summary>
    /// Validates <paramref name="tensors"/> against <paramref name="config"/>, then writes the folder
    /// <paramref name="outDir"/>. Only the tensors the config implies are written, in <see cref="LlamaTensorShapes"/> order.
    /// <paramref name="tokenizerPath"/> is copied as tokenizer.json when it is a .json file, else as tokenizer.model.
    /// Returns the absolute paths of the files written.
    /// </summary>
    /// <exception cref="OutputConflictException">The output equals, lies inside or contains an input, or is not empty.</exception>
    /// <exception cref="MissingInputException">The tokenizer or an extra file does not exist.</exception>
    /// <exception cref="BadModelFileException">A tensor is missing or misshapen for the config.</exception>
    public static IReadOnlyList<string> Write(string outDir, LlamaConfig config, ITensorSource tensors, string tokenizerPath,
        LlamaCheckpointWriteOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LlamaCheckpointWriteOptions();
        LlamaTensorShapes.Validate(config, tensors, "tensors to write");
        if (!File.Exists(tokenizerPath))
            throw new MissingInputException($"tokenizer '{tokenizerPath}' does not exist");
        string tokenizerName = ModelTokenizer.FolderNameOf(tokenizerPath);
        foreach (var extra in options.ExtraFiles)
        {
            if (!File.Exists(extra)) throw new MissingInputException($"file to carry '{extra}' does not exist");
            if (OwnedNames.Contains(Path.GetFileName(extra)) || Path.GetFileName(extra) == tokenizerName)
                throw new BadArgumentException($"file to carry '{extra}' would replace the checkpoint's own {Path.GetFileName(extra)}");
        }
        AtomicOutputFolder.CheckOutput(outDir, [.. options.InputPaths, tokenizerPath, .. options.ExtraFiles]);

        var storeAs = options.StoreAs ?? SafeTensorsWriter.AllFloat32;
        var names = LlamaTensorShapes.Expected(config).Select(e => e.Name).ToArray();
        var dtypes = names.Select(n => storeAs(tensors.GetInfo(n))).Distinct().ToArray();
        var written = config with
        {
            TorchDtype = dtypes.Length == 1 ? dtypes[0] switch { TensorDType.F16 => "float16", TensorDType.BF16 => "bfloat16", _ => "float32" } : "float32",
        };

        using var folder = AtomicOutputFolder.Create(outDir, [.. options.InputPaths, tokenizerPath, .. options.ExtraFiles]);
        File.WriteAllText(folder.PathOf(HfConfig.FileName), HfConfig.ToJson(written, options.BaseConfigJson));
        var view = new NamedSubset(tensors, names);
        // transformers refuses safetensors whose metadata lacks format "pt".
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        long total = names.Sum(n => tensors.GetInfo(n).ElementCount * FloatWidening.SizeOf(storeAs(tensors.GetInfo(n))));
        long? shardBytes = options.Sharded ? options.MaxShardBytes ?? LlamaCheckpointWriteOptions.DefaultMaxShardBytes
            : options.MaxShardBytes is long limit && total > limit ? limit : null;
        if (shardBytes is long max)
            SafeTensorsWriter.WriteSharded(folder.TempPath, view, max, storeAs, metadata, cancellationToken);
        else
            SafeTensorsWriter.Write(folder.PathOf(SafeTensorsFolder.SingleFileName), view, metadata, storeAs, cancellationToken: cancellationToken);
        File.Copy(tokenizerPath, folder.PathOf(tokenizerName));
        foreach (var extra in options.ExtraFiles) File.Copy(extra, folder.PathOf(Path.GetFileName(extra)));
        if (!File.Exists(folder.PathOf("generation_config.json")))
            File.WriteAllText(folder.PathOf("generation_config.json"), new JsonObject
            {
                ["bos_token_id"] = config.BosTokenId,
                ["eos_token_id"] = config.EosTokenId,
            }.ToJsonString(new() { WriteIndented = true }) + "\n");
        if (!ModelTokenizer.IsJson(tokenizerPath) && !File.Exists(folder.PathOf("tokenizer_config.json")))
            File.WriteAllText(folder.PathOf("tokenizer_config.json"), new JsonObject
            {
                ["tokenizer_class"] = "LlamaTokenizer",
                ["bos_token"] = "<s>",
                ["eos_token"] = "</s>",
                ["unk_token"] = "<unk>",
                ["add_bos_token"] = true,
                ["add_eos_token"] = false,
                ["model_max_length"] = config.MaxPositionEmbeddings,
            }.ToJsonString(new() { WriteIndented = true }) + "\n");
        cancellationToken.ThrowIfCancellationRequested();
        var files = System.IO.Directory.GetFiles(folder.TempPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        folder.Commit();
        return files.Select(f => Path.Combine(folder.FinalPath, f!)).ToArray();
    }

    /// <summary>A view of some tensors of a source, in a given order; does not own the source.</summary>
    private sealed class NamedSubset(ITensorSource source, IReadOnlyCollection<string> names) : ITensorSource
    {
        public IReadOnlyCollection<string> Names => names;
        public bool Contains(string name) => names.Contains(name);
        public TensorInfo GetInfo(string name) => source.GetInfo(name);
        public float[] ReadFloat32(string name) => source.ReadFloat32(name);
        public void Dispose() { }
    }
}
