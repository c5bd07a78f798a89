using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>
/// A dense model evaluated once on a set of paragraphs, so that many pruned variants of it can be scored against it:
/// its perplexity (reference protocol) and the logits of every comparison batch, cached while they fit in
/// <c>cacheBudgetBytes</c> (beyond that the dense runner is run again for each comparison). Scores are the same
/// numbers <see cref="Perplexity.Paragraphs"/> and <see cref="ModelComparison.Compare"/> give: the same encoding,
/// batches and arithmetic. Does not own the dense runner, which must outlive this object.
/// </summary>
public sealed class DenseReference
{
    /// <summary>Default cap on cached dense logits: 1 GiB.</summary>
    public const long DefaultCacheBudgetBytes = 1L << 30;

    private readonly ILogitsRunner _dense;
    private readonly IModelTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _paragraphs;
    private readonly int _maxLength;
    private readonly TokenBatch[] _batches;
    private readonly RunResult[]? _cached;

    /// <summary>Dense perplexity on the paragraphs.</summary>
    public PerplexityResult Perplexity { get; }

    /// <summary>Whether the dense logits are held (true) or recomputed per comparison.</summary>
    public bool Cached => _cached != null;

    private DenseReference(ILogitsRunner dense, IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, int maxLength,
        TokenBatch[] batches, RunResult[]? cached, PerplexityResult perplexity)
    {
        (_dense, _tokenizer, _paragraphs, _maxLength, _batches, _cached, Perplexity) = (dense, tokenizer, paragraphs, maxLength, batches, cached, perplexity);
    }

    /// <summary>
    /// Evaluates <paramref name="dense"/> on <paramref name="paragraphs"/> (each encoded with BOS and truncated to
    /// <paramref name="maxLength"/> tokens): perplexity, and the comparison batches (non-empty sequences in order,
    /// <see cref="BatchSize"/> per batch, right-padded) with their logits when batch x seq x vocab x 4 bytes summed
    /// over batches is at most <paramref name="cacheBudgetBytes"/>.
    /// </summary>
    public static DenseReference Create(ILogitsRunner dense, IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, int maxLength,
        long cacheBudgetBytes = DefaultCacheBudgetBytes, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var perplexity = new Perplexity(dense).Paragraphs(tokenizer, paragraphs, maxLength, progress, cancellationToken);
        var rows = Encode(tokenizer, paragraphs, maxLength);
        var batches = new List<TokenBatch>();
        for (int start = 0; start < rows.Length; start += BatchSize)
            batches.Add(TokenBatch.Create(rows.Skip(start).Take(BatchSize).ToArray(), PadSide.Right));
        long bytes = batches.Sum(b => (long)b.Batch * b.Seq * dense.Vocab * sizeof(float));
        RunResult[]? cached = null;
        if (bytes <= cacheBudgetBytes)
        {
            cached = new RunResult[batches.Count];
            for (int i = 0; i < batches.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                cached[i] = dense.Run(batches[i]);
            }
        }
        return new DenseReference(dense, tokenizer, paragraphs, maxLength, batches.ToArray(), cached, perplexity);
    }

    /// <summary>Sequences per comparison batch, as <see cref="ModelComparison.Compare"/> uses by default.</summary>
    public const int BatchSize = 8;

    /// <summary>Perplexity of <paramref name="model"/> on the same paragraphs, under the same protocol.</summary>
    public PerplexityResult PerplexityOf(ILogitsRunner model, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        new Perplexity(model).Paragraphs(_tokenizer, _paragraphs, _maxLength, progress, cancellationToken);

    /// <summary>Mean KL(dense || <paramref name="model"/>) per position and top-1 agreement on the same tokens.</summary>
    public ComparisonResult Compare(ILogitsRunner model, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (model.Vocab != _dense.Vocab) throw new BadArgumentException($"models have different vocabularies ({_dense.Vocab} vs {model.Vocab})");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var logA = new double[_dense.Vocab];
        var logB = new double[_dense.Vocab];
        double kl = 0;
        long agree = 0, positions = 0;
        for (int i = 0; i < _batches.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var reference = _cached?[i] ?? _dense.Run(_batches[i]);
            ModelComparison.Accumulate(reference, model.Run(_batches[i]), _batches[i], logA, logB, ref kl, ref agree, ref positions);
            progress?.Report(new EvaluationProgress("compare", i + 1, _batches.Length));
        }
        return ModelComparison.Result(kl, agree, positions, clock.Elapsed.TotalSeconds);
    }

    private static int[][] Encode(IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, int maxLength) =>
        paragraphs.Select(p => tokenizer.Encode(p).Take(maxLength).ToArray()).Where(s => s.Length > 0).ToArray();
}
