using System.Diagnostics;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>Fidelity of model B to model A on the same tokens.</summary>
public sealed record ComparisonResult
{
    /// <summary>Mean over positions of KL(A || B) = sum_v pA(v) (ln pA(v) - ln pB(v)), nats.</summary>
    public required double MeanKl { get; init; }
    /// <summary>Fraction of positions where argmax of A's logits equals argmax of B's (lowest id on ties).</summary>
    public required double Top1Agreement { get; init; }
    /// <summary>Number of positions compared (every real, unpadded position).</summary>
    public required long Positions { get; init; }
    public required double Seconds { get; init; }
}

/// <summary>Compares the next-token distributions of two models (same vocabulary) position by position.</summary>
public static class ModelComparison
{
    /// <summary>
    /// Runs both models on <paramref name="sequences"/> in right-padded batches of <paramref name="batchSize"/> and
    /// compares their distributions at every real position, in float64.
    /// </summary>
    public static ComparisonResult Compare(ILogitsRunner a, ILogitsRunner b, IReadOnlyList<int[]> sequences, int batchSize = 8,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Compare(new RunnerLogitsSource(a, "compare"), new RunnerLogitsSource(b, "compare"), sequences, batchSize, progress, cancellationToken);

    /// <summary>
    /// As above, for any two <see cref="ILogitsSource"/>s (whole-model or layer-streamed): <paramref name="a"/>'s batches
    /// are prepared, then <paramref name="b"/>'s, and both are read position by position together.
    /// </summary>
    public static ComparisonResult Compare(ILogitsSource a, ILogitsSource b, IReadOnlyList<int[]> sequences, int batchSize = 8,
        IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (a.Vocab != b.Vocab) throw new BadArgumentException($"models have different vocabularies ({a.Vocab} vs {b.Vocab})");
        if (batchSize <= 0) throw new BadArgumentException($"batch size must be positive, got {batchSize}");
        var clock = Stopwatch.StartNew();
        var logA = new double[a.Vocab];
        var logB = new double[a.Vocab];
        double kl = 0;
        long agree = 0, positions = 0;
        var batches = Batches(sequences, batchSize);
        if (batches.Length > 0)
        {
            using var la = a.Prepare(batches, progress, cancellationToken);
            using var lb = b.Prepare(batches, progress, cancellationToken);
            for (int i = 0; i < batches.Length; i++)
                for (int r = 0; r < batches[i].Batch; r++)
                    for (int t = 0; t < batches[i].Lengths[r]; t++)
                        Add(la.At(i, r, t), lb.At(i, r, t), logA, logB, ref kl, ref agree, ref positions);
        }
        return Result(kl, agree, positions, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The comparison batches: non-empty sequences in order, <paramref name="batchSize"/> per batch, right-padded.</summary>
    public static TokenBatch[] Batches(IReadOnlyList<int[]> sequences, int batchSize) =>
        sequences.Where(s => s.Length > 0).Chunk(batchSize).Select(c => TokenBatch.Create(c, PadSide.Right)).ToArray();

    /// <summary>Adds the KL sum, agreements and positions of one batch run by both models (float64, position order).</summary>
    internal static void Accumulate(RunResult ra, RunResult rb, TokenBatch batch, double[] logA, double[] logB,
        ref double kl, ref long agree, ref long positions)
    {
        for (int r = 0; r < batch.Batch; r++)
            for (int t = 0; t < batch.Lengths[r]; t++)
                Add(ra.LogitsAt(r, t), rb.LogitsAt(r, t), logA, logB, ref kl, ref agree, ref positions);
    }

    /// <summary>Adds one position's KL(A || B) term, top-1 agreement and count (float64); leaves both log-softmaxes in logA and logB.</summary>
    internal static void Add(ReadOnlySpan<float> la, ReadOnlySpan<float> lb, double[] logA, double[] logB, ref double kl, ref long agree, ref long positions)
    {
        LogProbabilities.LogSoftmax(la, logA);
        LogProbabilities.LogSoftmax(lb, logB);
        double sum = 0;
        for (int v = 0; v < logA.Length; v++) sum += Math.Exp(logA[v]) * (logA[v] - logB[v]);
        kl += sum;
        if (LogProbabilities.ArgMax(la) == LogProbabilities.ArgMax(lb)) agree++;
        positions++;
    }

    internal static ComparisonResult Result(double kl, long agree, long positions, double seconds)
    {
        if (positions == 0) throw new BadDataException("no position to compare");
        return new ComparisonResult { MeanKl = kl / positions, Top1Agreement = (double)agree / positions, Positions = positions, Seconds = seconds };
    }
}
