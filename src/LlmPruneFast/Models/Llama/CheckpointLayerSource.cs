using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The FFN layers of a LLaMA checkpoint (<see cref="LlamaConfig"/> + <see cref="ITensorSource"/>) seen as
/// <see cref="FfnLayer"/>s, with optional calibration activations: the <see cref="ILayerSource"/> the pruner reads.
/// Layers are read from the tensors when asked for (not cached), so a large model is never held whole here.
/// Does not own the tensors.
/// </summary>
public sealed class CheckpointLayerSource(LlamaConfig config, ITensorSource tensors, IReadOnlyList<LayerActivations>? activations = null) : ILayerSource
{
    public int LayerCount => config.NumHiddenLayers;

    /// <summary>Gate/up rows, down columns and (when mlp_bias) the three biases of layer <paramref name="index"/>.</summary>
    public FfnLayer Layer(int index) => Read(config, tensors, index);

    public LayerActivations Activations(int index, CancellationToken ct) => activations?[index]
        ?? throw new MissingInputException($"no calibration activations for layer {index} (pass --calib)");

    /// <summary>Layer <paramref name="index"/> of a checkpoint as an <see cref="FfnLayer"/>.</summary>
    public static FfnLayer Read(LlamaConfig config, ITensorSource tensors, int index)
    {
        int n = config.FfnWidth(index), d = config.HiddenSize;
        float[]? Bias(string name) => config.MlpBias && tensors.Contains(name) ? tensors.ReadFloat32(name) : null;
        return new FfnLayer(index, n, d,
            tensors.ReadFloat32(LlamaTensorNames.Gate(index)), tensors.ReadFloat32(LlamaTensorNames.Up(index)),
            tensors.ReadFloat32(LlamaTensorNames.Down(index)),
            Bias(LlamaTensorNames.GateBias(index)), Bias(LlamaTensorNames.UpBias(index)), Bias(LlamaTensorNames.DownBias(index)));
    }

    /// <summary>The fingerprint a plan for this checkpoint records (name = <paramref name="name"/>, informative only).</summary>
    public static ModelFingerprint Fingerprint(string name, LlamaConfig config, ITensorSource tensors) =>
        ModelFingerprint.Compute(name, Enumerable.Range(0, config.NumHiddenLayers).Select(l => Read(config, tensors, l)));
}
