namespace LlmPruneFast.Models.Onnx;

/// <summary>Logits and, when asked for, FFN activations of one batch, row-major float32.</summary>
public sealed class RunResult
{
    public required int Batch { get; init; }
    public required int Seq { get; init; }
    public required int Vocab { get; init; }

    /// <summary>[batch, seq, vocab]; empty when the graph has no logits output.</summary>
    public required float[] Logits { get; init; }

    /// <summary>Per layer l: [batch, seq, N_l] activations silu(gate) * up, or null when taps were not requested.</summary>
    public float[][]? Taps { get; init; }

    /// <summary>Logits of one position: a view of length <see cref="Vocab"/>.</summary>
    public ReadOnlySpan<float> LogitsAt(int row, int position) => Logits.AsSpan((row * Seq + position) * Vocab, Vocab);
}
