namespace LlmPruneFast.Models;

/// <summary>
/// A decoder's sizes as the family-neutral stages need them (memory and time estimates, summaries): hidden size,
/// vocabulary, attention heads, each layer's FFN width and the parameter count. A family adapter makes it (LLaMA:
/// <see cref="LlamaConfig.Shape"/>), so a planner never reads a family's config.
/// </summary>
public sealed record DecoderShape
{
    public required int Hidden { get; init; }
    public required int Vocab { get; init; }
    public required int Heads { get; init; }
    public required int KeyValueHeads { get; init; }
    /// <summary>Size of one attention head.</summary>
    public required int HeadDim { get; init; }
    /// <summary>FFN width of every layer, in order.</summary>
    public required IReadOnlyList<int> FfnWidths { get; init; }
    /// <summary>Elements of every weight the model holds.</summary>
    public required long Parameters { get; init; }

    public int Layers => FfnWidths.Count;

    public int MaxFfnWidth => FfnWidths.Max();

    /// <summary>Weights of one layer at the widest FFN: attention (q, k, v, o) and the three FFN projections.</summary>
    public long LayerParameters => (long)Hidden * HeadDim * (2L * Heads + 2L * KeyValueHeads) + 3L * MaxFfnWidth * Hidden;
}
