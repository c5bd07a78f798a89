using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>Dense vs pruned decoder on the same paragraphs (reference protocol): both perplexities, KL(dense || pruned) and top-1 agreement.</summary>
public sealed record PruneEvaluation(PerplexityResult Before, PerplexityResult After, ComparisonResult Fidelity)
{
    /// <summary>
    /// Two whole-model runners: perplexity of each on <paramref name="paragraphs"/> (each encoded by
    /// <paramref name="encode"/>, BOS first, truncated to <paramref name="maxLength"/>), then KL(dense || pruned) and
    /// top-1 agreement on the same tokens. Each model runs twice (perplexity batches longest first, comparison batches in order).
    /// </summary>
    public static PruneEvaluation Measure(ILogitsRunner dense, ILogitsRunner pruned, Func<string, IReadOnlyList<int>> encode,
        IReadOnlyList<string> paragraphs, int maxLength, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        var before = new Perplexity(dense).Paragraphs(encode, paragraphs, maxLength, progress, ct);
        var after = new Perplexity(pruned).Paragraphs(encode, paragraphs, maxLength, progress, ct);
        var sequences = paragraphs.Select(p => encode(p).Take(maxLength).ToArray()).Where(s => s.Length > 0).ToArray();
        var fidelity = ModelComparison.Compare(dense, pruned, sequences, progress: progress, cancellationToken: ct);
        return new PruneEvaluation(before, after, fidelity);
    }

    /// <summary>
    /// The same numbers from any two logits sources (e.g. layer-streamed checkpoints), each model run once: both
    /// perplexities and the fidelity come from one pass over the comparison batches (<see cref="JointEvaluation"/>),
    /// equal to <see cref="Measure"/>'s up to the order of float64 summation.
    /// </summary>
    public static PruneEvaluation Joint(ILogitsSource dense, ILogitsSource pruned, Func<string, IReadOnlyList<int>> encode,
        IReadOnlyList<string> paragraphs, int maxLength, int batchSize, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        var (sequences, protocol) = Perplexity.ParagraphSequences(encode, paragraphs, maxLength);
        var (before, after, fidelity) = JointEvaluation.Run(dense, pruned, sequences.Select(s => s.Ids).ToArray(), protocol, batchSize, progress, ct);
        return new PruneEvaluation(before, after, fidelity);
    }
}
