using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// What to measure on a foreign graph, dense vs pruned: evaluation paragraphs for a decoder (perplexity, KL, top-1);
/// fidelity sentences and STS pairs for a sentence encoder; latency of both when asked.
/// </summary>
public sealed record GraphMeasureRequest
{
    public IReadOnlyList<string>? Paragraphs { get; init; }
    public IReadOnlyList<string>? Sentences { get; init; }
    public IReadOnlyList<StsPair>? Pairs { get; init; }
    public bool Latency { get; init; }

    public bool Any => Paragraphs != null || Sentences != null || Pairs != null || Latency;
}

/// <summary>A foreign graph's measurement: what was asked of <see cref="GraphMeasureRequest"/>, and seconds of "eval" and "latency".</summary>
public sealed record GraphMeasurement
{
    public PruneEvaluation? Decoder { get; init; }
    public FidelityResult? Fidelity { get; init; }
    public (StsResult Dense, StsResult Pruned)? Sts { get; init; }
    public (LatencyResult Dense, LatencyResult Pruned)? Latency { get; init; }
    public IReadOnlyDictionary<string, double> Seconds { get; init; } = new Dictionary<string, double>();
}

/// <summary>
/// The "measure dense vs pruned" step for foreign ONNX graphs, the one <c>prune</c> and <c>report</c> share (and the
/// encoder demo's comparison): perplexity, KL and top-1 for a decoder (the reference protocol, through the graph's own
/// feed, the same arithmetic as <see cref="DecoderComparison"/>'s whole-model path); embedding fidelity and STS for a
/// sentence encoder; latency when asked.
/// </summary>
public static class GraphComparison
{
    /// <summary>Tokens per evaluated paragraph at most (the capture's own limit), or the graph's positions when fewer.</summary>
    public const int DecoderMaxLength = GraphCalibrationCapture.DefaultMaxLength;

    /// <summary>Batch of the encoder latency probe (x 128 tokens): a report's timing, kept short.</summary>
    public const int EncoderLatencyBatch = 8;

    /// <summary>
    /// Measures <paramref name="prunedFolder"/> (a pruned copy of <paramref name="dense"/>'s folder, same file names)
    /// against <paramref name="dense"/>: as a sentence encoder when <paramref name="encoder"/>, else as a decoder fed by
    /// <paramref name="feed"/>.
    /// </summary>
    public static GraphMeasurement Run(OnnxGraphModel dense, bool encoder, IGraphFeed feed, string prunedFolder, GraphMeasureRequest request, int threads,
        bool cuda = false, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        if (encoder)
        {
            var options = new SentenceEncoderOptions { IntraOpThreads = threads, UseCuda = cuda };
            using var d = SentenceEncoder.Open(dense.Folder, options);
            using var p = SentenceEncoder.Open(prunedFolder, options);
            return Encoders(d, p, request, EncoderLatencyBatch, ct: ct);
        }
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        var pruned = OnnxGraphModel.Open(prunedFolder);
        using var denseRunner = new GraphLogitsRunner(dense.Model, feed, threads, cuda);
        using var prunedRunner = new GraphLogitsRunner(pruned.Model, feed, threads, cuda);
        PruneEvaluation? evaluation = null;
        if (request.Paragraphs != null)
        {
            int maxLength = dense.CapLength(DecoderMaxLength);
            evaluation = PruneEvaluation.Measure(denseRunner, prunedRunner, text => feed.Encode(text, maxLength), request.Paragraphs, maxLength, progress, ct);
            seconds["eval"] = clock.Elapsed.TotalSeconds;
        }
        clock.Restart();
        var timing = request.Latency ? LatencyProbe.Compare(denseRunner, prunedRunner, seq: dense.CapLength(128), ct: ct) : ((LatencyResult, LatencyResult)?)null;
        if (timing != null) seconds["latency"] = clock.Elapsed.TotalSeconds;
        return new GraphMeasurement { Decoder = evaluation, Latency = timing, Seconds = seconds };
    }

    /// <summary>
    /// Two open sentence encoders: fidelity of the pruned embeddings to the dense ones on the request's sentences, STS
    /// of both on its pairs, and latency at <paramref name="latencyBatch"/> x 128 tokens (median of <paramref name="latencyRepeats"/>).
    /// </summary>
    public static GraphMeasurement Encoders(SentenceEncoder dense, SentenceEncoder pruned, GraphMeasureRequest request, int latencyBatch, int latencyRepeats = 10,
        CancellationToken ct = default)
    {
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        var sts = request.Pairs != null ? (EncoderEvaluation.Sts(dense, request.Pairs, ct), EncoderEvaluation.Sts(pruned, request.Pairs, ct)) : ((StsResult, StsResult)?)null;
        var fidelity = request.Sentences != null ? EncoderEvaluation.Fidelity(dense, pruned, request.Sentences, ct) : null;
        if (fidelity != null || sts != null) seconds["eval"] = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var latency = request.Latency ? EncoderEvaluation.Latency(dense, pruned, latencyBatch, repeats: latencyRepeats, ct: ct) : ((LatencyResult, LatencyResult)?)null;
        if (latency != null) seconds["latency"] = clock.Elapsed.TotalSeconds;
        return new GraphMeasurement { Fidelity = fidelity, Sts = sts, Latency = latency, Seconds = seconds };
    }
}
