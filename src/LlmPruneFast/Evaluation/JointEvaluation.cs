using System.Diagnostics;

namespace LlmPruneFast.Evaluation;

/// <summary>
/// Perplexity of two models and the fidelity of the second to the first (KL, top-1) from one pass over the same batches,
/// each model run once: what a layer-streamed dense-vs-pruned evaluation needs, where a model pass is the whole cost.
/// The numbers are those of <see cref="Perplexity.Score"/> (paragraph protocol: every next token) and
/// <see cref="ModelComparison.Compare(ILogitsSource, ILogitsSource, IReadOnlyList{int[]}, int, IProgress{EvaluationProgress}?, CancellationToken)"/>
/// up to the order of float64 summation.
/// </summary>
public static class JointEvaluation
{
    public static (PerplexityResult A, PerplexityResult B, ComparisonResult Fidelity) Run(ILogitsSource a, ILogitsSource b, IReadOnlyList<int[]> sequences,
        string protocol, int batchSize = 8, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (a.Vocab != b.Vocab) throw new BadArgumentException($"models have different vocabularies ({a.Vocab} vs {b.Vocab})");
        if (batchSize <= 0) throw new BadArgumentException($"batch size must be positive, got {batchSize}");
        var clock = Stopwatch.StartNew();
        var logA = new double[a.Vocab];
        var logB = new double[a.Vocab];
        double kl = 0, nllA = 0, nllB = 0;
        long agree = 0, positions = 0, tokens = 0;
        var batches = ModelComparison.Batches(sequences, batchSize);
        if (batches.Length > 0)
        {
            using var la = a.Prepare(batches, progress, cancellationToken);
            using var lb = b.Prepare(batches, progress, cancellationToken);
            int row = 0;
            var rows = sequences.Where(s => s.Length > 0).ToArray();
            for (int i = 0; i < batches.Length; i++)
                for (int r = 0; r < batches[i].Batch; r++, row++)
                {
                    var ids = rows[row];
                    for (int t = 0; t < ids.Length; t++)
                    {
                        var sa = la.At(i, r, t);
                        var sb = lb.At(i, r, t);
                        ModelComparison.Add(sa, sb, logA, logB, ref kl, ref agree, ref positions);
                        if (t + 1 < ids.Length)
                        {
                            // logA/logB now hold both log-softmaxes of this position: the next token's NLL under each model.
                            nllA -= logA[ids[t + 1]];
                            nllB -= logB[ids[t + 1]];
                            tokens++;
                        }
                    }
                }
        }
        if (tokens == 0) throw new BadDataException("no token to score: every sequence is shorter than 2 tokens");
        double seconds = clock.Elapsed.TotalSeconds;
        int scored = sequences.Count(s => s.Length >= 2);
        PerplexityResult Result(double nll) => new() { MeanNll = nll / tokens, Tokens = tokens, Sequences = scored, Protocol = protocol, Seconds = seconds };
        return (Result(nllA), Result(nllB), ModelComparison.Result(kl, agree, positions, seconds));
    }
}
