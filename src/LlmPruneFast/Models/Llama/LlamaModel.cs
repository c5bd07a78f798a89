using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The LLaMA family adapter (llama, mistral, qwen2 checkpoints: <see cref="LlamaConfig"/> + <see cref="ITensorSource"/>):
/// the one place that knows the family. This folder holds the rest of that knowledge: which tensors make up each
/// FFN neuron (<see cref="CheckpointLayerSource"/>), how FFN activations are exposed (the project's graph built with
/// taps, <see cref="LlamaTapRunner"/>; or one decoder layer at a time, <see cref="LayerStream"/>), how the model is
/// evaluated layer by layer (<see cref="LayerStreamedLogits"/>), and how the pruned model is laid out and written
/// (<see cref="PrunedModel"/>, <see cref="PrunedCheckpointWriter"/>). Capture, selectors, compensation and slicing see
/// it as an <see cref="IPrunableDecoder"/>, planners as its <see cref="DecoderShape"/>. Does not own the tensors.
/// </summary>
/// <param name="tokenizer">Reads the checkpoint's tokenizer (BOS first) when first needed: to capture or draw a sample.</param>
/// <param name="name">Recorded in a plan's fingerprint (informative).</param>
public sealed class LlamaModel(LlamaConfig config, ITensorSource tensors, Func<IModelTokenizer>? tokenizer, string name = "") : IPrunableDecoder
{
    private IModelTokenizer? _tokenizer;

    /// <param name="tokenizer">The checkpoint's tokenizer (BOS first); needed only to capture.</param>
    /// <param name="name">Recorded in a plan's fingerprint (informative).</param>
    public LlamaModel(LlamaConfig config, ITensorSource tensors, IModelTokenizer? tokenizer = null, string name = "")
        : this(config, tensors, tokenizer == null ? null : () => tokenizer, name)
    {
    }

    public LlamaConfig Config => config;
    public ITensorSource Tensors => tensors;
    public string Name => name;
    public IReadOnlyList<int> Widths => Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnWidth).ToArray();
    public DecoderShape Shape => config.Shape();

    /// <summary>The tokenizer, read on first use (a checkpoint's broken tokenizer is an error only where it is needed).</summary>
    private IModelTokenizer Tokenizer => _tokenizer ??= tokenizer?.Invoke() ?? throw new InvalidOperationException("capturing a LLaMA checkpoint needs its tokenizer");

    public ILayerSource Layers(IReadOnlyList<LayerActivations>? activations) => new CheckpointLayerSource(config, tensors, activations);

    public ModelFingerprint Fingerprint() => CheckpointLayerSource.Fingerprint(name, config, tensors);

    /// <summary>
    /// Every compensation but none writes FFN down biases, which only LLaMA's transformers class has (mlp_bias): other
    /// model types (mistral, qwen2) cannot hold them.
    /// </summary>
    public string? FfnBiasRefusal => HfConfig.SupportsMlpBias(config.ModelType) ? null
        : $"model_type '{config.ModelType}' cannot hold (transformers' class has no mlp_bias)";

    /// <summary>Longest calibration sequence, as the whole-model capture sets it.</summary>
    private int MaxLength(CalibrationOptions options) =>
        options.MaxLength > 0 ? Math.Min(options.MaxLength, config.MaxPositionEmbeddings) : config.MaxPositionEmbeddings;

    public CalibrationSample Sample(string text, string textName, CalibrationOptions options)
    {
        var encoder = Tokenizer;
        var sample = CalibrationSample.Draw(t => encoder.Encode(t), MaxLength(options), config.BosTokenId, text, textName, options, causal: true);
        LayerStream.CheckLength(config, sample.Longest);
        return sample;
    }

    public IDecoderLayerStream OpenStream(CalibrationSample sample, LayerStreamOptions options) => new LayerStream(config, tensors, sample, options);

    public double[] ScoreCandidates(ILayerSource source, IReadOnlyList<PruningPlan> plans, IReadOnlyList<int[]> heldOut, bool whole, int batchSize,
        OnnxRunnerOptions runner, LayerStreamOptions stream, IProgress<PruningProgress>? progress, CancellationToken ct) => whole
        ? LlamaCandidateScoring.Whole(config, tensors, source, plans, heldOut, batchSize, runner, progress, ct)
        : LlamaCandidateScoring.Layered(config, tensors, source, plans, heldOut, batchSize, stream, progress, ct);

    /// <summary>
    /// How calibration reaches a LLaMA's FFN activations: its tokenizer's ids (BOS leading, never sampled unless asked),
    /// right padding with id 0, paragraphs cut into windows (a causal model), and a taps-only graph (no logits) built
    /// from the checkpoint when the memory check has passed.
    /// </summary>
    public TapModel Taps(CalibrationOptions options)
    {
        var encoder = Tokenizer;
        return new TapModel
        {
            Widths = Widths,
            MaxLength = MaxLength(options),
            LeadingSpecialId = config.BosTokenId,
            Encode = t => encoder.Encode(t),
            Causal = true,
            Side = PadSide.Right,
            PadId = 0,
            Open = () => new LlamaTapRunner(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = false }), options.Threads, options.Cuda),
        };
    }

    /// <summary>
    /// Captures activations of every FFN layer on <paramref name="text"/> (<see cref="CalibrationCapture"/>);
    /// <paramref name="textName"/> is recorded in the plan (the file path).
    /// </summary>
    /// <exception cref="BadArgumentException">Bad options, or the text holds fewer eligible positions than S.</exception>
    /// <exception cref="MemoryBudgetException">The store and batch buffers exceed <see cref="CalibrationOptions.MemoryBudgetBytes"/>.</exception>
    public CalibrationSet Capture(string text, string textName, CalibrationOptions options, IProgress<CaptureProgress>? progress = null,
        CancellationToken ct = default) =>
        CalibrationCapture.Run(Taps(options), text, textName, options, progress, ct);
}
