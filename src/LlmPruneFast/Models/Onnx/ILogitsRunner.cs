namespace LlmPruneFast.Models.Onnx;

/// <summary>
/// A decoder that gives next-token logits for a padded batch: what perplexity, KL, generation and latency need,
/// whatever built the graph (the LLaMA adapter's runner, or a foreign ONNX graph run through
/// its tokenizer's feed), so evaluation never names a model family. Owns its native session: dispose it.
/// </summary>
public interface ILogitsRunner : IDisposable
{
    /// <summary>Vocabulary size (last dimension of the logits).</summary>
    int Vocab { get; }

    /// <summary>Longest sequence the model takes (int.MaxValue when the graph does not say).</summary>
    int MaxPositions { get; }

    /// <summary>Logits [batch, seq, vocab] of one padded batch.</summary>
    RunResult Run(TokenBatch batch);
}
