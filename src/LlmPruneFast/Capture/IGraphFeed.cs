using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Capture;

/// <summary>
/// Turns text into the inputs a graph declares. One implementation per tokenizer family (SentencePiece for
/// decoders, WordPiece for encoders), so capture and evaluation of a foreign ONNX graph never name a tokenizer.
/// </summary>
public interface IGraphFeed
{
    /// <summary>Token ids of one text, special tokens included (BOS, or [CLS] ... [SEP]), at most <paramref name="maxTokens"/>.</summary>
    int[] Encode(string text, int maxTokens);

    /// <summary>
    /// True for a causal decoder's feed: a long paragraph may be cut into windows, each starting with the paragraph's
    /// BOS. False for an encoder, whose sequences are single texts ([CLS] ... [SEP]).
    /// </summary>
    bool Causal { get; }

    /// <summary>Which side of a shorter row is padded.</summary>
    PadSide Side { get; }

    /// <summary>Id used for padding.</summary>
    int PadId { get; }

    /// <summary>
    /// The int64 tensors, [batch, seq] row-major, for every name in <paramref name="graphInputNames"/> (input_ids,
    /// attention_mask, token_type_ids, position_ids, ...).
    /// </summary>
    /// <exception cref="UnsupportedArchitectureException">The graph declares an input this feed cannot supply.</exception>
    IReadOnlyDictionary<string, long[]> Inputs(TokenBatch batch, IReadOnlyList<string> graphInputNames);
}
