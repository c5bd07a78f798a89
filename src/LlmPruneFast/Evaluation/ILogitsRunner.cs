using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>
/// A decoder that gives next-token logits for a padded batch: what perplexity, KL and latency need, whatever built
/// the graph (the project's LLaMA builder, or a foreign ONNX graph run through its tokenizer's feed).
/// </summary>
public interface ILogitsRunner
{
    /// <summary>Vocabulary size (last dimension of the logits).</summary>
    int Vocab { get; }

    /// <summary>Longest sequence the model takes (int.MaxValue when the graph does not say).</summary>
    int MaxPositions { get; }

    /// <summary>Logits [batch, seq, vocab] of one padded batch.</summary>
    RunResult Run(TokenBatch batch);
}

/// <summary>An <see cref="OnnxLlamaRunner"/> seen as an <see cref="ILogitsRunner"/>.</summary>
public sealed class LlamaLogitsRunner(OnnxLlamaRunner runner) : ILogitsRunner
{
    public int Vocab => runner.Vocab;
    public int MaxPositions => runner.MaxPositions;
    public RunResult Run(TokenBatch batch) => runner.Run(batch);
}
