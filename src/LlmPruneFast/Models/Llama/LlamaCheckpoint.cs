namespace LlmPruneFast.Models.Llama;

/// <summary>
/// A Hugging Face LLaMA-family checkpoint folder: <c>config.json</c>, <c>model.safetensors</c> (or a sharded
/// <c>model.safetensors.index.json</c>) and <c>tokenizer.model</c>, opened and validated; or a llama2.c legacy
/// <c>.bin</c> with its tokenizer (<see cref="OpenLlama2c"/>), read as <c>import --from llama2c</c> reads it. Owns the
/// memory-mapped weights: dispose it.
/// </summary>
public sealed class LlamaCheckpoint : IDisposable
{
    public const string TokenizerModelFileName = ModelTokenizer.SentencePieceFileName;

    /// <summary>Tokenizer and generation files carried through unchanged when a checkpoint is rewritten, when present.</summary>
    public static readonly IReadOnlyList<string> CarriedFileNames =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json"];

    /// <summary>Absolute path of the folder (of the file, for a llama2.c .bin).</summary>
    public string Directory { get; }
    /// <summary>
    /// The config.json text as read (so a rewrite can keep keys this project does not interpret); null for a llama2.c
    /// .bin, which has none (a rewrite writes a complete config, as import does).
    /// </summary>
    public string? ConfigJson { get; }
    public LlamaConfig Config { get; }
    public ITensorSource Tensors { get; }
    /// <summary>The tokenizer file: tokenizer.model, or tokenizer.json when the folder has no tokenizer.model.</summary>
    public string TokenizerPath { get; }
    /// <summary>Absolute paths of the <see cref="CarriedFileNames"/> present in the folder, less the <see cref="TokenizerPath"/>.</summary>
    public IReadOnlyList<string> CarriedFiles { get; }

    private LlamaCheckpoint(string directory, string? configJson, LlamaConfig config, ITensorSource tensors, string tokenizer, IReadOnlyList<string> carried)
    {
        Directory = directory;
        TokenizerPath = tokenizer;
        ConfigJson = configJson;
        Config = config;
        Tensors = tensors;
        CarriedFiles = carried;
    }

    /// <summary>
    /// Opens <paramref name="directory"/>: parses config.json, checks tokenizer.model or tokenizer.json exists, maps the weights and checks
    /// every tensor the config implies is present with its shape (per-layer FFN widths, lm_head only when untied,
    /// FFN biases when mlp_bias; see <see cref="LlamaTensorShapes"/>).
    /// </summary>
    /// <exception cref="MissingInputException">The folder, config.json, the tokenizer or the weights are missing.</exception>
    /// <exception cref="UnsupportedArchitectureException">config.json describes an unsupported model.</exception>
    /// <exception cref="BadModelFileException">A file is malformed or a tensor is missing or misshapen.</exception>
    public static LlamaCheckpoint Open(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (File.Exists(directory))
            throw new MissingInputException($"model folder '{directory}' is a file; expected a Hugging Face checkpoint folder");
        if (!System.IO.Directory.Exists(directory))
            throw new MissingInputException($"model folder '{directory}' does not exist");
        string configPath = Path.Combine(directory, HfConfig.FileName);
        if (!File.Exists(configPath))
            throw new MissingInputException($"model folder '{directory}' has no {HfConfig.FileName}");
        string json = File.ReadAllText(configPath);
        var config = HfConfig.Parse(json, configPath);
        string tokenizer = ModelTokenizer.FindIn(directory)
            ?? throw new MissingInputException($"model folder '{directory}' has no tokenizer: expected {TokenizerModelFileName} (SentencePiece) or {ModelTokenizer.JsonFileName} (byte-level BPE)");

        var tensors = SafeTensorsFolder.Open(directory);
        try
        {
            LlamaTensorShapes.Validate(config, tensors, $"checkpoint '{directory}'");
            FiniteWeights.Check(tensors, $"checkpoint '{directory}'"); // NaN/Inf would only surface as a NaN perplexity
        }
        catch
        {
            tensors.Dispose();
            throw;
        }
        var carried = CarriedFileNames.Select(n => Path.Combine(directory, n)).Where(p => File.Exists(p) && p != tokenizer).ToArray();
        return new LlamaCheckpoint(directory, json, config, tensors, tokenizer, carried);
    }

    /// <summary>The extension of a llama2.c legacy checkpoint file.</summary>
    public const string Llama2cExtension = ".bin";

    /// <summary>True when <paramref name="path"/> names a llama2.c checkpoint (a *.bin that is not a folder); nothing is read.</summary>
    public static bool IsLlama2c(string path) =>
        string.Equals(Path.GetExtension(Path.TrimEndingDirectorySeparator(path)), Llama2cExtension, StringComparison.OrdinalIgnoreCase) && !System.IO.Directory.Exists(path);

    /// <summary>
    /// Opens a checkpoint folder (<see cref="Open(string)"/>), or a llama2.c .bin (<see cref="OpenLlama2c"/>) with
    /// <paramref name="tokenizer"/>; a tokenizer given with a folder is refused (the folder's own is its tokenizer).
    /// </summary>
    public static LlamaCheckpoint Open(string path, string? tokenizer)
    {
        if (IsLlama2c(path)) return OpenLlama2c(path, tokenizer);
        if (tokenizer != null)
            throw new BadArgumentException($"--tokenizer applies to a llama2.c .bin model only; '{path}' is read with the tokenizer in its folder");
        return Open(path);
    }

    /// <summary>
    /// Opens a llama2.c legacy checkpoint (<see cref="Llama2cCheckpoint.Read"/>: float32 in memory, q/k rows in
    /// transformers' RoPE layout) with <paramref name="tokenizerPath"/>, or else the tokenizer.model (or tokenizer.json)
    /// beside it. A rewrite (a pruned model) is a Hugging Face folder, as <c>import --from llama2c</c> writes.
    /// </summary>
    /// <exception cref="MissingInputException">The file or its tokenizer is missing.</exception>
    /// <exception cref="BadModelFileException">The header is not sane, the size disagrees with it, or a weight is not finite.</exception>
    public static LlamaCheckpoint OpenLlama2c(string binPath, string? tokenizerPath)
    {
        binPath = Path.GetFullPath(binPath);
        if (!File.Exists(binPath)) throw new MissingInputException($"llama2.c checkpoint '{binPath}' does not exist");
        string tokenizer;
        if (tokenizerPath != null)
        {
            tokenizer = Path.GetFullPath(tokenizerPath);
            if (!File.Exists(tokenizer)) throw new MissingInputException($"tokenizer (--tokenizer) '{tokenizer}' does not exist");
        }
        else
            tokenizer = ModelTokenizer.FindIn(Path.GetDirectoryName(binPath)!)
                ?? throw new MissingInputException($"llama2.c checkpoint '{binPath}' has no tokenizer beside it: pass --tokenizer FILE.model, or put {TokenizerModelFileName} in its folder");
        var (config, tensors) = Llama2cCheckpoint.Read(binPath);
        FiniteWeights.Check(tensors, $"llama2.c checkpoint '{binPath}'");
        return new LlamaCheckpoint(binPath, null, config, tensors, tokenizer, []);
    }

    public void Dispose() => Tensors.Dispose();
}
