using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// A LLaMA decoder to measure: its config and weights (read layer by layer on the layer-streamed path) and, for the
/// whole-model path, the model.onnx already written for it or a runner already open (not owned), so neither is built twice.
/// </summary>
internal sealed record DecoderWeights(LlamaConfig Config, ITensorSource Tensors) : IMeasuredDecoder
{
    /// <summary>The model's own model.onnx: the whole-model path loads it instead of building a graph from <see cref="Tensors"/>.</summary>
    public string? OnnxFile { get; init; }

    /// <summary>An open whole-model runner of this model, used as is (the caller disposes it).</summary>
    public ILogitsRunner? Runner { get; init; }

    public DecoderShape Shape => Config.Shape();

    public int MaxPositions => Config.MaxPositionEmbeddings;

    public ILogitsRunner OpenRunner(OnnxRunnerOptions options) => OnnxFile != null
        ? OnnxLlamaRunner.Create(OnnxFile, options)
        : OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Config, Tensors), options);

    public ILogitsSource LayerStreamed(LayerStreamOptions options, string label) => new LayerStreamedLogits(Config, Tensors, options) { Label = label };
}
