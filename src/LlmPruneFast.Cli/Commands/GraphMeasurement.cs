using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Pipeline;
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

    public bool Any => Request.Any;

    /// <summary>The library's request: what to measure, without the file names.</summary>
    public GraphMeasureRequest Request => new() { Paragraphs = Paragraphs, Sentences = Sentences, Pairs = Pairs, Latency = Latency };

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
/// Dense vs pruned on a foreign graph as <c>prune</c> and <c>report</c> show it: the library's step
/// (<see cref="GraphComparison"/>) on the checks read from the command line; prints its lines, adds its JSON fields
/// and fills the report's measurements.
/// </summary>
internal sealed class GraphMeasurement
{
    private Pipeline.GraphMeasurement Measured { get; init; } = new();
    private GraphChecks Checks { get; init; } = new();

    public PruneEvaluation? Decoder => Measured.Decoder;
    public FidelityResult? Fidelity => Measured.Fidelity;
    public (StsResult Dense, StsResult Pruned)? Sts => Measured.Sts;
    public (LatencyResult Dense, LatencyResult Pruned)? Latency => Measured.Latency;
    public IReadOnlyDictionary<string, double> Seconds => Measured.Seconds;

    /// <summary>Measures <paramref name="prunedFolder"/> (a pruned copy of <paramref name="dense"/>'s folder) against the dense graph.</summary>
    public static GraphMeasurement Run(GraphTarget dense, string prunedFolder, GraphChecks checks, int threads,
        IProgress<EvaluationProgress>? progress, CancellationToken ct, bool cuda = false) => new()
    {
        Measured = GraphComparison.Run(dense.Graph, dense.Encoder != null, dense.Feed, prunedFolder, checks.Request, threads, cuda, progress, ct),
        Checks = checks,
    };

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
