using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// A decoder checkpoint as the verbs and the study hold it: the checkpoint family's adapter behind a family-neutral
/// face (shape, tokenizer, weights to measure, the <see cref="IPrunableDecoder"/> the pruning pipeline runs, writer),
/// so no caller names the family's types. The LLaMA family (Hugging Face llama, mistral and qwen2 folders, and
/// llama2.c .bin files) is today's one checkpoint family; the pipeline's checkpoint steps (<see cref="ModelPruner"/>,
/// <see cref="StreamingPruner"/>, <see cref="DecoderComparison"/>) take it. Open one with
/// <see cref="ModelFolder.OpenCheckpoint"/>. Owns the weights: dispose it.
/// </summary>
public sealed class DecoderCheckpoint : IDisposable
{
    /// <summary>The file that marks a checkpoint folder.</summary>
    public const string ConfigFileName = HfConfig.FileName;

    private IModelTokenizer? _tokenizer;

    private DecoderCheckpoint(LlamaCheckpoint source) => Source = source;

    internal LlamaCheckpoint Source { get; }
    internal LlamaConfig Config => Source.Config;
    internal ITensorSource Tensors => Source.Tensors;

    /// <summary>
    /// Opens and validates a checkpoint folder, or a llama2.c .bin with <paramref name="tokenizer"/> or the tokenizer
    /// beside it (see <see cref="LlamaCheckpoint.Open(string, string?)"/> for its errors); the tokenizer is read on first use.
    /// </summary>
    public static DecoderCheckpoint Open(string path, string? tokenizer = null) => new(LlamaCheckpoint.Open(path, tokenizer));

    /// <summary>True when <paramref name="path"/> names a checkpoint held in one file (a llama2.c .bin), which opens with a tokenizer given beside it.</summary>
    public static bool IsSingleFile(string path) => LlamaCheckpoint.IsLlama2c(path);

    /// <summary>Absolute path of the folder (of the file, for a llama2.c .bin).</summary>
    public string Directory => Source.Directory;

    public DecoderShape Shape => Config.Shape();

    /// <summary>Tokens a sequence may hold.</summary>
    public int MaxPositions => Config.MaxPositionEmbeddings;

    /// <summary>The folder's tokenizer, loaded on first use (a broken one is an error there).</summary>
    public IModelTokenizer Tokenizer => _tokenizer ??= ModelTokenizer.Load(Source.TokenizerPath);

    /// <summary>The weights as <see cref="DecoderComparison"/> measures them.</summary>
    public IMeasuredDecoder Weights => new DecoderWeights(Config, Tensors);

    /// <summary>The weights, with a whole-model runner of them already open (used as is, not owned).</summary>
    public IMeasuredDecoder WeightsWith(ILogitsRunner runner) => new DecoderWeights(Config, Tensors) { Runner = runner };

    /// <summary>A checkpoint written by <see cref="WritePruned"/>: its weights, run from the model.onnx written beside them.</summary>
    public IMeasuredDecoder WrittenWeights => new DecoderWeights(Config, Tensors) { OnnxFile = Path.Combine(Directory, LlamaOnnxModel.ModelFileName) };

    /// <summary>What a plan records of this checkpoint (FFN weight hash) under <paramref name="name"/>.</summary>
    public ModelFingerprint Fingerprint(string name) => Prunable(name).Fingerprint();

    /// <summary>The FFN layers as selectors and slicing see them, with calibration activations when given.</summary>
    public ILayerSource Layers(IReadOnlyList<LayerActivations>? activations = null) => Prunable(Directory).Layers(activations);

    /// <summary>
    /// The checkpoint as the pruning pipeline sees it, under <paramref name="name"/> (recorded in plans); its tokenizer
    /// is read when first needed (capture), so a request is checked before a broken tokenizer is reported.
    /// </summary>
    public IPrunableDecoder Prunable(string name) => new LlamaModel(Config, Tensors, () => Tokenizer, name);

    /// <summary>Logits computed one decoder layer at a time (memory near one layer's weights).</summary>
    public ILogitsSource LayerStreamedLogits(LayerStreamOptions options) => new LayerStreamedLogits(Config, Tensors, options);

    /// <summary>The shape after slicing the FFNs to <paramref name="layers"/>.</summary>
    public DecoderShape PrunedShape(IReadOnlyList<SlicedFfnLayer> layers) => PrunedModel.ConfigOf(Config, layers).Shape();

    /// <summary>
    /// The pruned model in memory, to measure: a view over these weights with the sliced FFNs (for the layer stream,
    /// which reads one layer at a time) or a built copy (for the whole-model graph).
    /// </summary>
    public IMeasuredDecoder Pruned(IReadOnlyList<SlicedFfnLayer> layers, bool view)
    {
        var (config, tensors) = view ? PrunedModel.View(Config, Tensors, layers) : PrunedModel.Build(Config, Tensors, layers);
        return new DecoderWeights(config, tensors);
    }

    /// <summary>
    /// Writes the pruned checkpoint (weights, config, tokenizer, model.onnx, plan) to <paramref name="outDir"/>, which
    /// appears only when complete; returns the pruned shape and the files written. Always a Hugging Face folder (a
    /// llama2.c .bin's too).
    /// </summary>
    public (DecoderShape Shape, IReadOnlyList<string> Files) WritePruned(string outDir, PruningPlan plan, IReadOnlyList<SlicedFfnLayer> layers,
        CancellationToken ct = default, PrunedOutputOptions? output = null)
    {
        var (config, files) = PrunedCheckpointWriter.Write(outDir, Source, plan, layers, ct, output);
        return (config.Shape(), files);
    }

    public void Dispose() => Source.Dispose();
}
