using LlmPruneFast.Capture;

namespace LlmPruneFast.Pruning;

/// <summary>
/// A model the pipeline can prune, whatever its family: its FFN widths, its layers as <see cref="FfnLayer"/>s (which
/// tensors make up each neuron is the family's business), the fingerprint a plan records, and how to capture
/// calibration activations. Each family's adapter implements it (Models/Llama, Models/OnnxGraph);
/// selectors and compensation only ever see this.
/// </summary>
public interface IPrunableModel
{
    /// <summary>Recorded in the plan's fingerprint (informative).</summary>
    string Name { get; }
    IReadOnlyList<int> Widths { get; }
    ILayerSource Layers(IReadOnlyList<LayerActivations>? activations);
    ModelFingerprint Fingerprint();
    CalibrationSet Capture(string text, string textName, CalibrationOptions options, IProgress<CaptureProgress>? progress, CancellationToken ct);
}
