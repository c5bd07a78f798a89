using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Capture;

/// <summary>Runs one padded batch and returns every FFN layer's activations, [batch * seq * N_l] row-major per layer.</summary>
public interface ITapRunner : IDisposable
{
    float[][] Run(TokenBatch batch);
}

/// <summary>
/// What capture needs to know about a model, whatever its family: layer widths, how text becomes ids (special tokens
/// included), the longest sequence, the leading special token excluded from sampling (BOS, [CLS]), padding, and how to
/// open the runner (called after the memory check, so a refused capture builds nothing).
/// </summary>
public sealed record TapModel
{
    public required IReadOnlyList<int> Widths { get; init; }
    public required int MaxLength { get; init; }
    public int? LeadingSpecialId { get; init; }
    /// <summary>Ids of one text, special tokens included; untruncated when <see cref="Causal"/>.</summary>
    public required Func<string, int[]> Encode { get; init; }
    /// <summary>A causal decoder, whose calibration paragraphs may be cut into windows (<see cref="Capture.CalibrationLayout"/>).</summary>
    public bool Causal { get; init; }
    public PadSide Side { get; init; } = PadSide.Right;
    public int PadId { get; init; }
    public required Func<ITapRunner> Open { get; init; }
}
