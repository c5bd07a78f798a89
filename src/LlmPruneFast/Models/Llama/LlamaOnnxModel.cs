using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// A Hugging Face LLaMA checkpoint folder made ready to run: its config, its tokenizer and an ONNX Runtime session
/// over the graph <see cref="LlamaOnnxBuilder"/> builds from its weights (in memory; optionally also saved).
/// Owns the session: dispose it.
/// </summary>
public sealed class LlamaOnnxModel : IDisposable
{
    public required string Directory { get; init; }
    public required LlamaConfig Config { get; init; }
    public required IModelTokenizer Tokenizer { get; init; }
    public required OnnxLlamaRunner Runner { get; init; }

    /// <summary>Tokens a sequence may hold: max_position_embeddings.</summary>
    public int MaxLength => Config.MaxPositionEmbeddings;

    /// <summary>
    /// Opens <paramref name="directory"/> (a folder, or a llama2.c .bin with <paramref name="tokenizerPath"/>; see
    /// <see cref="LlamaCheckpoint.Open(string, string?)"/> for its errors), builds the graph and starts a session. With
    /// <paramref name="saveOnnxTo"/> the graph is also written there as model.onnx (external data in model.onnx.data
    /// when the weights exceed 256 MB).
    /// </summary>
    public static LlamaOnnxModel Open(string directory, LlamaOnnxOptions? graph = null, OnnxRunnerOptions? runner = null, string? saveOnnxTo = null,
        string? tokenizerPath = null)
    {
        ModelProto model;
        LlamaConfig config;
        string dir, tokenizerFile;
        using (var checkpoint = LlamaCheckpoint.Open(directory, tokenizerPath))
        {
            config = checkpoint.Config;
            tokenizerFile = checkpoint.TokenizerPath;
            dir = checkpoint.Directory;
            model = LlamaOnnxBuilder.Build(config, checkpoint.Tensors, graph);
        }
        var tokenizer = ModelTokenizer.Load(tokenizerFile);
        if (saveOnnxTo != null) SaveOnnx(model, saveOnnxTo);
        return new LlamaOnnxModel { Directory = dir, Config = config, Tokenizer = tokenizer, Runner = OnnxLlamaRunner.Create(model, runner) };
    }

    public const string ModelFileName = "model.onnx";
    public const string DataFileName = "model.onnx.data";
    /// <summary>Initializers totalling more than this go to <see cref="DataFileName"/>.</summary>
    public const long InlineLimitBytes = 256L << 20;
    /// <summary>Initializers of at least this many bytes go to the data file when there is one; smaller ones stay inline.</summary>
    public const long ExternalThresholdBytes = 1024;

    /// <summary>
    /// Writes <paramref name="model"/> as <paramref name="folder"/>/model.onnx; weights over <paramref name="inlineLimitBytes"/>
    /// (default 256 MB) go to model.onnx.data. For a model not yet built, <see cref="LlamaOnnxBuilder.Write"/> writes the
    /// same files without holding the whole graph in memory.
    /// </summary>
    public static string SaveOnnx(ModelProto model, string folder, long inlineLimitBytes = InlineLimitBytes)
    {
        string path = Path.Combine(folder, ModelFileName);
        bool external = model.Graph.Initializer.Sum(t => (long)t.RawData.Length) > inlineLimitBytes;
        OnnxModelFile.Save(model, path, external ? new OnnxSaveOptions { ExternalDataFile = DataFileName, ExternalThresholdBytes = ExternalThresholdBytes } : null);
        return path;
    }

    public void Dispose() => Runner.Dispose();
}
