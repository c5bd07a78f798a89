namespace LlmPruneFast.Models.Llama;

/// <summary>
/// A Hugging Face LLaMA-family checkpoint folder: <c>config.json</c>, <c>model.safetensors</c> (or a sharded
/// <c>model.safetensors.index.json</c>) and <c>tokenizer.model</c>, opened and validated. Owns the memory-mapped
/// weights: dispose it.
/// </summary>
public sealed class LlamaCheckpoint : IDisposable
{
    public const string TokenizerModelFileName = ModelTokenizer.SentencePieceFileName;

    /// <summary>Tokenizer and generation files carried through unchanged when a checkpoint is rewritten, when present.</summary>
    public static readonly IReadOnlyList<string> CarriedFileNames =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "generation_config.json"];

    /// <summary>Absolute path of the folder.</summary>
    public string Directory { get; }
    public string ConfigPath => Path.Combine(Directory, HfConfig.FileName);
    /// <summary>The config.json text as read (so a rewrite can keep keys this project does not interpret).</summary>
    public string ConfigJson { get; }
    public LlamaConfig Config { get; }
    public ITensorSource Tensors { get; }
    /// <summary>The tokenizer file: tokenizer.model, or tokenizer.json when the folder has no tokenizer.model.</summary>
    public string TokenizerPath { get; }
    /// <summary>Absolute paths of the <see cref="CarriedFileNames"/> present in the folder, less the <see cref="TokenizerPath"/>.</summary>
    public IReadOnlyList<string> CarriedFiles { get; }

    private LlamaCheckpoint(string directory, string configJson, LlamaConfig config, ITensorSource tensors, string tokenizer, IReadOnlyList<string> carried)
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

    public void Dispose() => Tensors.Dispose();
}
