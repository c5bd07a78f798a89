using System.Globalization;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Reports;

/// <summary>What was measured around a pruning run, for the report's summary. Every field is optional.</summary>
public sealed record ReportMeasurements
{
    /// <summary>Parameter count of the whole model, dense and pruned (as the model family counts it: every weight of a checkpoint, or every floating-point initializer of a graph).</summary>
    public BeforeAfter? Parameters { get; init; }
    /// <summary>What kind of model this is, in words (e.g. "ONNX graph, 6 FFN blocks (gelu)"); null for a LLaMA checkpoint.</summary>
    public string? Architecture { get; init; }
    /// <summary>True for a sentence encoder: the report shows embedding fidelity and STS instead of perplexity.</summary>
    public bool Encoder { get; init; }
    /// <summary>Encoder fidelity: mean cosine of pruned to dense embeddings, and the sentences it was measured on.</summary>
    public ReportFidelity? Fidelity { get; init; }
    /// <summary>Encoder STS Spearman x 100, dense and pruned.</summary>
    public ReportSts? Sts { get; init; }
    /// <summary>Bytes of the dense and pruned weight files (model.safetensors, or model.onnx and its external data), when both exist on disk.</summary>
    public BeforeAfter? Bytes { get; init; }
    public PruneEvaluation? Evaluation { get; init; }
    /// <summary>The evaluation text's path and the paragraph count asked for (null: all).</summary>
    public string? EvaluationText { get; init; }
    public int? EvaluationParagraphs { get; init; }
    public (LatencyResult Dense, LatencyResult Pruned)? Latency { get; init; }
    public IReadOnlyDictionary<string, double> StageSeconds { get; init; } = new Dictionary<string, double>();
    /// <summary>The device each stage ran on ("cpu", "cuda"), by stage name as in <see cref="StageSeconds"/>.</summary>
    public IReadOnlyDictionary<string, string> StageDevices { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Assembles a <see cref="PruneReport"/> from a plan, the calibration activations it was made from, and what was
/// measured. Used by <c>prune --report</c> and by <c>report</c> (which recaptures the activations).
/// </summary>
public static class PruneReportFactory
{
    /// <summary>
    /// The report of <paramref name="plan"/>. Per-layer MI statistics use the plan's own estimator; a plan from a
    /// baseline method (no estimator) is described with 16-bin plug-in MI, and the report says so.
    /// </summary>
    public static PruneReport Create(PruningPlan plan, IReadOnlyList<LayerActivations>? activations, ReportMeasurements measurements,
        IProgress<ReportProgress>? progress = null, CancellationToken ct = default)
    {
        var notes = new List<string>();
        var estimator = EstimatorOf(plan, notes);
        var (layers, cards) = activations == null
            ? new ReportBuilder(estimator).Build(plan, _ => null, plan.Seed, progress, ct)
            : new ReportBuilder(estimator).Build(plan, activations, plan.Seed, progress, ct);
        if (activations == null)
            notes.Add("Calibration activations were not available: per-layer MI distributions, heatmaps and scatters are absent.");
        if (measurements.Latency == null) notes.Add("Latency was not measured for this report.");
        return new PruneReport
        {
            Title = $"{Path.GetFileName(plan.Model.Name.TrimEnd('/', '\\'))} pruned {(plan.Ratio * 100).ToString("0.#", CultureInfo.InvariantCulture)}% with {plan.Method}",
            Summary = Summary(plan, measurements),
            Layers = layers,
            Cards = cards,
            Notes = notes,
        };
    }

    private static ReportSummary Summary(PruningPlan plan, ReportMeasurements m)
    {
        var summary = ReportSummary.FromPlan(plan) with
        {
            Bytes = m.Bytes,
            Parameters = m.Parameters,
            Architecture = m.Architecture,
            Encoder = m.Encoder ? true : null,
            Fidelity = m.Fidelity,
            Sts = m.Sts,
            Stages = m.StageSeconds.Select(kv => new StageTime(kv.Key, kv.Value, m.StageDevices.GetValueOrDefault(kv.Key))).ToArray(),
        };
        if (m.Latency is var (dense, pruned))
            summary = summary with
            {
                LatencyMs = new BeforeAfter(dense.MedianMs, pruned.MedianMs),
                TokensPerSecond = new BeforeAfter(dense.TokensPerSecond, pruned.TokensPerSecond),
                LatencyProtocol = $"ONNX Runtime CPU, batch {dense.Batch} x {dense.Seq} tokens, median of interleaved dense/pruned forward passes in one process",
            };
        if (m.Evaluation is { } e)
            summary = summary with
            {
                Evaluation = new ReportEvaluation
                {
                    Text = m.EvaluationText ?? "(unnamed)",
                    Kind = "paragraphs",
                    Paragraphs = m.EvaluationParagraphs ?? e.Before.Sequences,
                    Protocol = e.Before.Protocol,
                    Tokens = e.Before.Tokens,
                },
                Perplexity = new BeforeAfter(e.Before.Perplexity, e.After.Perplexity),
                Kl = new BeforeAfter(0, e.Fidelity.MeanKl),
                Top1Agreement = e.Fidelity.Top1Agreement,
            };
        return summary;
    }

    /// <summary>The estimator a plan recorded, rebuilt from its parameters.</summary>
    private static IMutualInformationEstimator EstimatorOf(PruningPlan plan, List<string> notes)
    {
        if (plan.Estimator is not { } e)
        {
            notes.Add($"Method '{plan.Method}' uses no MI estimator; the MI charts use 16-bin plug-in MI to describe its choices.");
            return MiEstimators.Create("plugin", new MiEstimatorOptions { Bins = 16 });
        }
        var p = e.Parameters;
        var options = new MiEstimatorOptions
        {
            Bins = (int)p.GetInt64("bins", 16),
            MillerMadow = p.GetBool("miller_madow", false),
            K = (int)p.GetInt64("k", 3),
            ClipNegative = p.GetBool("clip_negative", true),
            Alpha = p.GetDouble("alpha", 2.0),
            Bandwidth = Bandwidth.Parse(p.GetString("bandwidth", "silverman")),
            Seed = unchecked((int)plan.Seed),
        };
        return MiEstimators.Create(e.Name, options);
    }
}
