using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// A decoder checkpoint folder made ready to run whole, behind a family-neutral face: its tokenizer and an ONNX
/// Runtime session over its whole-model graph, for the verbs that score and generate with it (eval, demo, generate).
/// The LLaMA family's graph (<see cref="LlamaOnnxModel"/>) is today's one. Owns the session: dispose it.
/// </summary>
public sealed class RunnableDecoder : IDisposable
{
    private readonly LlamaOnnxModel _model;

    private RunnableDecoder(LlamaOnnxModel model) => _model = model;

    /// <summary>
    /// Opens the folder or llama2.c .bin (see <see cref="DecoderCheckpoint.Open"/> for its errors), builds its graph
    /// and starts a session; with <paramref name="saveOnnxTo"/> the graph is also written there as model.onnx.
    /// </summary>
    public static RunnableDecoder Open(string path, OnnxRunnerOptions options, string? saveOnnxTo = null, string? tokenizer = null) =>
        new(LlamaOnnxModel.Open(path, runner: options, saveOnnxTo: saveOnnxTo, tokenizerPath: tokenizer));

    /// <summary>Absolute path of the folder.</summary>
    public string Directory => _model.Directory;

    public DecoderShape Shape => _model.Config.Shape();

    /// <summary>Tokens a sequence may hold.</summary>
    public int MaxLength => _model.MaxLength;

    public IModelTokenizer Tokenizer => _model.Tokenizer;

    public ILogitsRunner Runner => _model.Runner;

    /// <summary>The ONNX Runtime execution providers of the session, in order.</summary>
    public IReadOnlyList<string> Providers => _model.Runner.Providers;

    /// <summary>The id an empty prompt generates from.</summary>
    public int BosTokenId => _model.Config.BosTokenId;

    /// <summary>The id generation stops at.</summary>
    public int EosTokenId => _model.Config.EosTokenId;

    public void Dispose() => _model.Dispose();
}
