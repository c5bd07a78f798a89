using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// The foreign-ONNX-graph family adapter: a graph's FFN blocks (found by pattern, <see cref="OnnxGraphModel"/>) as an
/// <see cref="IPrunableModel"/>, its tokens made by an <see cref="IGraphFeed"/>, its activations tapped by
/// <see cref="GraphCalibrationCapture"/> and its pruned copy written by <see cref="OnnxGraphSlicer"/>.
/// </summary>
public sealed class OnnxGraphPrunable(OnnxGraphModel model, IGraphFeed feed, string? name = null) : IPrunableModel
{
    public string Name => name ?? model.Folder;
    public IReadOnlyList<int> Widths => model.Blocks.Select(b => b.Width).ToArray();
    public ILayerSource Layers(IReadOnlyList<LayerActivations>? activations) => new GraphLayerSource(model, activations);
    public ModelFingerprint Fingerprint() => GraphLayerSource.Fingerprint(Name, model);

    public CalibrationSet Capture(string text, string textName, CalibrationOptions options, IProgress<CaptureProgress>? progress, CancellationToken ct) =>
        GraphCalibrationCapture.Run(model, feed, text, textName, options, progress, ct);
}
