using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Evaluation;

/// <summary>
/// Gives the logits of padded token batches that an evaluation has fixed in advance: a whole-model runner runs each
/// batch when it is first asked for (<see cref="RunnerLogitsSource"/>); a layer-streamed model runs every batch through
/// one layer at a time first and makes logits a chunk of positions at a time afterwards
/// (a family's, e.g. the LLaMA adapter's layer-streamed logits). Scores walk the batches in order, rows in order, positions in order.
/// </summary>
public interface ILogitsSource
{
    /// <summary>Vocabulary size (the width of each logits row).</summary>
    int Vocab { get; }

    /// <summary>Longest sequence the model takes.</summary>
    int MaxPositions { get; }

    /// <summary>The logits of <paramref name="batches"/>, to be read in order; dispose the result.</summary>
    IBatchLogits Prepare(IReadOnlyList<TokenBatch> batches, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>The logits of prepared batches, read position by position (fastest in batch, row, position order).</summary>
public interface IBatchLogits : IDisposable
{
    /// <summary>Logits [vocab] of column <paramref name="position"/> of row <paramref name="row"/> of batch <paramref name="batch"/>; valid until the next call.</summary>
    ReadOnlySpan<float> At(int batch, int row, int position);
}

/// <summary>A whole-model <see cref="ILogitsRunner"/> as an <see cref="ILogitsSource"/>: one batch run at a time, the last one kept.</summary>
public sealed class RunnerLogitsSource(ILogitsRunner runner, string stage = "perplexity") : ILogitsSource
{
    public int Vocab => runner.Vocab;
    public int MaxPositions => runner.MaxPositions;

    public IBatchLogits Prepare(IReadOnlyList<TokenBatch> batches, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellationToken = default) =>
        new Lazy(runner, batches, stage, progress, cancellationToken);

    private sealed class Lazy(ILogitsRunner runner, IReadOnlyList<TokenBatch> batches, string stage, IProgress<EvaluationProgress>? progress, CancellationToken ct) : IBatchLogits
    {
        private int _index = -1;
        private RunResult? _result;

        public ReadOnlySpan<float> At(int batch, int row, int position)
        {
            if (batch != _index)
            {
                ct.ThrowIfCancellationRequested();
                _result = runner.Run(batches[batch]);
                _index = batch;
                progress?.Report(new EvaluationProgress(stage, batch + 1, batches.Count));
            }
            return _result!.LogitsAt(row, position);
        }

        public void Dispose() => _result = null;
    }
}
