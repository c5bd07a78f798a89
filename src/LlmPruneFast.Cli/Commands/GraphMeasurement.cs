using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Cli.Commands;

/// <summary>What to measure on a graph, dense vs pruned: read and checked before any work.</summary>
internal sealed record GraphChecks
{
    /// <summary>Decoders: evaluation paragraphs (perplexity, KL, top-1) and the file they came from.</summary>
    public IReadOnlyList<string>? Paragraphs { get; init; }
    public int? ParagraphCount { get; init; }
    /// <summary>Encoders: fidelity sentences and the file they came from (the --eval file, else the STS file).</summary>
    public IReadOnlyList<string>? Sentences { get; init; }
    public IReadOnlyList<StsPair>? Pairs { get; init; }
    public string? EvalFile { get; init; }
    public string? StsFile { get; init; }
    /// <summary>Also time dense and pruned forward passes (reports).</summary>
    public bool Latency { get; init; }

    public bool Any => Paragraphs != null || Sentences != null || Pairs != null || Latency;

    /// <summary>
    /// The checks for <paramref name="target"/>: <paramref name="eval"/> is paragraphs for a decoder, sentences for an
    /// encoder; <paramref name="sts"/> applies to encoders only (refused on a decoder, exit 2).
    /// </summary>
    public static GraphChecks Read(GraphTarget target, string? eval, int? paragraphs, string? sts, bool latency)
    {
        if (target.Encoder == null)
        {
            if (sts != null) throw new BadArgumentException($"--sts applies to encoder models (a folder with model.onnx and vocab.txt); '{target.Graph.Path}' is a decoder graph");
            var text = eval == null ? null : TextCorpus.Paragraphs(TextCorpus.Read(eval), paragraphs);
            if (text is { Count: 0 }) throw new BadDataException($"evaluation text (--eval) '{eval}' holds no paragraphs");
            return new GraphChecks { Paragraphs = text, ParagraphCount = paragraphs, EvalFile = Full(eval), Latency = latency };
        }
        if (paragraphs != null) throw new BadArgumentException("--eval-paragraphs applies to decoders; an encoder's --eval file is read one sentence per line");
        var pairs = sts != null ? StsBenchmark.Read(sts) : null;
        var sentences = eval != null ? SentenceFile.Read(eval) : pairs != null ? SentenceFile.Distinct(pairs) : null;
        return new GraphChecks { Sentences = sentences, Pairs = pairs, EvalFile = Full(eval ?? sts), StsFile = Full(sts), Latency = latency };
    }

    private static string? Full(string? path) => path == null ? null : Path.GetFullPath(path);
}

/// <summary>
/// Dense vs pruned on a foreign graph, the one step <c>prune</c> and <c>report</c> share: perplexity, KL and top-1
/// for a decoder (the reference protocol, through the graph's own feed), embedding fidelity and STS for an encoder,
/// and latency when asked. Prints its lines, adds its JSON fields and fills the report's measurements.
/// </summary>
internal sealed class GraphMeasurement
{
    /// <summary>Tokens per evaluated paragraph at most: a graph does not declare its positions (the capture's own limit).</summary>
    public const int DecoderMaxLength = GraphCalibrationCapture.DefaultMaxLength;

    /// <summary>Batch of the encoder latency probe (x 128 tokens): a report's timing, kept short.</summary>
    public const int EncoderLatencyBatch = 8;

    public PruneEvaluation? Decoder { get; private init; }
    public FidelityResult? Fidelity { get; private init; }
    public (StsResult Dense, StsResult Pruned)? Sts { get; private init; }
    public (LatencyResult Dense, LatencyResult Pruned)? Latency { get; private init; }
    public IReadOnlyDictionary<string, double> Seconds { get; private init; } = new Dictionary<string, double>();
    private GraphChecks Checks { get; init; } = new();

    /// <summary>Measures <paramref name="prunedFolder"/> (a pruned copy of <paramref name="dense"/>'s folder) against the dense graph.</summary>
    public static GraphMeasurement Run(GraphTarget dense, string prunedFolder, GraphChecks checks, int threads,
        IProgress<EvaluationProgress>? progress, CancellationToken ct, bool cuda = false)
    {
        var seconds = new Dictionary<string, double>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (dense.Encoder != null)
        {
            var options = new SentenceEncoderOptions { IntraOpThreads = threads, UseCuda = cuda };
            using var d = SentenceEncoder.Open(dense.Graph.Folder, options);
            using var p = SentenceEncoder.Open(prunedFolder, options);
            var fidelity = checks.Sentences != null ? EncoderEvaluation.Fidelity(d, p, checks.Sentences, ct) : null;
            var sts = checks.Pairs != null ? (EncoderEvaluation.Sts(d, checks.Pairs, ct), EncoderEvaluation.Sts(p, checks.Pairs, ct)) : ((StsResult, StsResult)?)null;
            if (fidelity != null || sts != null) seconds["eval"] = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var latency = checks.Latency ? EncoderEvaluation.Latency(d, p, EncoderLatencyBatch, ct: ct) : ((LatencyResult, LatencyResult)?)null;
            if (latency != null) seconds["latency"] = clock.Elapsed.TotalSeconds;
            return new GraphMeasurement { Fidelity = fidelity, Sts = sts, Latency = latency, Seconds = seconds, Checks = checks };
        }
        var pruned = OnnxGraphModel.Open(prunedFolder);
        using var denseRunner = new GraphLogitsRunner(dense.Graph.Model, dense.Feed, threads, cuda);
        using var prunedRunner = new GraphLogitsRunner(pruned.Model, dense.Feed, threads, cuda);
        PruneEvaluation? evaluation = null;
        if (checks.Paragraphs != null)
        {
            evaluation = Evaluate(denseRunner, prunedRunner, dense.Feed, checks.Paragraphs, progress, ct);
            seconds["eval"] = clock.Elapsed.TotalSeconds;
        }
        clock.Restart();
        var timing = checks.Latency ? LatencyProbe.Compare(denseRunner, prunedRunner, ct: ct) : ((LatencyResult, LatencyResult)?)null;
        if (timing != null) seconds["latency"] = clock.Elapsed.TotalSeconds;
        return new GraphMeasurement { Decoder = evaluation, Latency = timing, Seconds = seconds, Checks = checks };
    }

    /// <summary>
    /// The LLaMA path's evaluation on any decoder: perplexity of both models on the paragraphs (BOS + ids from the
    /// feed, truncated to <see cref="DecoderMaxLength"/>), KL(dense || pruned) and top-1 agreement on the same tokens.
    /// </summary>
    public static PruneEvaluation Evaluate(ILogitsRunner dense, ILogitsRunner pruned, IGraphFeed feed, IReadOnlyList<string> paragraphs,
        IProgress<EvaluationProgress>? progress, CancellationToken ct) =>
        PruneEvaluation.Measure(dense, pruned, text => feed.Encode(text, DecoderMaxLength), paragraphs, DecoderMaxLength, progress, ct);

    public void Print(TextWriter o)
    {
        if (Decoder is { } e)
        {
            o.WriteLine();
            o.WriteLine($"{"",-22}{"dense",14}{"pruned",14}");
            o.WriteLine($"{"perplexity",-22}{e.Before.Perplexity,14:F4}{e.After.Perplexity,14:F4}   ({e.Before.Tokens} tokens, {e.Before.Sequences} paragraphs of {Checks.EvalFile})");
            o.WriteLine($"{"KL(dense || pruned)",-22}{"",14}{e.Fidelity.MeanKl,14:F5}   nats/token");
            o.WriteLine($"{"top-1 agreement",-22}{"",14}{e.Fidelity.Top1Agreement,14:P2}");
        }
        if (Fidelity != null || Sts != null) o.WriteLine();
        if (Fidelity is { } f)
            o.WriteLine($"fidelity   mean cosine {f.MeanCosine:F4} (min {f.MinCosine:F4}) of pruned to dense embeddings, {f.Sentences} sentences of {Checks.EvalFile}");
        if (Sts is var (before, after))
            o.WriteLine($"sts        Spearman x 100 {before.Spearman:F2} -> {after.Spearman:F2} ({after.Spearman - before.Spearman:+0.00;-0.00}) on {before.Pairs} pairs of {Checks.StsFile}");
        if (Latency is var (a, b))
            o.WriteLine($"latency    dense {a.MedianMs:F1} ms, pruned {b.MedianMs:F1} ms per {a.Batch} x {a.Seq} tokens ({a.MedianMs / b.MedianMs:F2}x)");
    }

    /// <summary>The JSON fields of <c>prune --json</c>: the LLaMA path's names for a decoder, issue 8's for an encoder.</summary>
    public void AddJson(IDictionary<string, object?> json)
    {
        if (Decoder is { } e)
        {
            json["perplexity_before"] = e.Before.Perplexity;
            json["perplexity_after"] = e.After.Perplexity;
            json["kl"] = e.Fidelity.MeanKl;
            json["top1_agreement"] = e.Fidelity.Top1Agreement;
            json["eval_tokens"] = e.Before.Tokens;
        }
        if (Fidelity is { } f)
        {
            json["fidelity"] = f.MeanCosine;
            json["fidelity_min"] = f.MinCosine;
            json["fidelity_sentences"] = f.Sentences;
        }
        if (Sts is var (before, after))
        {
            json["sts_before"] = before.Spearman;
            json["sts_after"] = after.Spearman;
            json["pairs"] = before.Pairs;
        }
    }

    /// <summary>The report's measurements: <paramref name="baseline"/> plus what was measured here.</summary>
    public ReportMeasurements AddTo(ReportMeasurements baseline) => baseline with
    {
        Evaluation = Decoder,
        EvaluationText = Decoder != null ? Checks.EvalFile : null,
        EvaluationParagraphs = Decoder != null ? Checks.ParagraphCount : null,
        Fidelity = Fidelity is { } f ? new ReportFidelity(Checks.EvalFile!, f.Sentences, f.MeanCosine, f.MinCosine) : null,
        Sts = Sts is var (before, after) ? new ReportSts(Checks.StsFile!, before.Pairs, before.Spearman, after.Spearman) : null,
        Latency = Latency,
    };
}
