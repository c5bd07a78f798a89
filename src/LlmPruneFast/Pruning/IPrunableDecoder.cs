using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Pruning;

/// <summary>
/// A decoder as the checkpoint pipeline (ModelPruner, StreamingPruner) prunes it, whatever its family: an
/// <see cref="IPrunableModel"/> that can also run its layers one at a time on carried calibration hidden states
/// (<see cref="OpenStream"/>) and score candidate plans by KL on held-out text. A decoder family's adapter implements
/// it (Models/Llama), so the pipeline never names the family's config, tensors or graphs.
/// </summary>
public interface IPrunableDecoder : IPrunableModel
{
    DecoderShape Shape { get; }

    /// <summary>Why the model cannot hold the FFN down biases that compensation writes (named in the refusal); null when it can.</summary>
    string? FfnBiasRefusal { get; }

    /// <summary>
    /// The calibration sample the whole-model capture would draw from <paramref name="text"/> (same tokenizer, lengths
    /// and positions), refusing sequences the layer runs would not compute as the model does.
    /// </summary>
    /// <exception cref="BadArgumentException">Bad options or text, or a sequence too long for the model.</exception>
    CalibrationSample Sample(string text, string textName, CalibrationOptions options);

    /// <summary>A layer stream over <paramref name="sample"/>, at layer 0 (owned by the caller: dispose it).</summary>
    IDecoderLayerStream OpenStream(CalibrationSample sample, LayerStreamOptions options);

    /// <summary>
    /// KL(dense || candidate) of each plan's pruned model on <paramref name="heldOut"/>, cutting each candidate's layers
    /// from <paramref name="source"/>: with whole-model graphs (<paramref name="whole"/>; <paramref name="runner"/>'s
    /// sessions) or one layer at a time for every candidate together (<paramref name="stream"/>).
    /// </summary>
    double[] ScoreCandidates(ILayerSource source, IReadOnlyList<PruningPlan> plans, IReadOnlyList<int[]> heldOut, bool whole, int batchSize,
        OnnxRunnerOptions runner, LayerStreamOptions stream, IProgress<PruningProgress>? progress, CancellationToken ct);
}

/// <summary>
/// A decoder's calibration hidden states carried from layer to layer: running layer l gives its FFN activations at the
/// sampled rows and (when advancing) the next layer's inputs. Layers are visited in order; <see cref="Restart"/> goes
/// back to the embeddings. Owns its sessions and scratch: dispose it.
/// </summary>
public interface IDecoderLayerStream : IDisposable
{
    /// <summary>The layer whose input the carried hidden states are.</summary>
    int Position { get; }

    /// <summary>Hidden states back to the token embeddings (the input of layer 0).</summary>
    void Restart();

    /// <summary>
    /// Runs dense layer <paramref name="layer"/> (the stream must be at it) and returns its FFN activations [S x N];
    /// with <paramref name="advance"/> the hidden states move on to its output.
    /// </summary>
    LayerActivations Capture(int layer, bool advance, IProgress<double>? progress, CancellationToken ct);

    /// <summary>Moves the hidden states through layer <paramref name="layer"/> with its FFN cut to <paramref name="sliced"/> (sequential capture).</summary>
    void Advance(int layer, SlicedFfnLayer sliced, CancellationToken ct);
}
