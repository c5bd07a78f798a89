using System.Diagnostics;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Pipeline;

/// <summary>How a dense-vs-pruned measurement runs (<c>--eval-stream</c>, <c>--memory-mb</c>, <c>--threads</c>, <c>--device</c>).</summary>
public sealed record MeasureOptions
{
    public EvaluationMode Mode { get; init; } = EvaluationMode.Auto;
    /// <summary>Memory budget the chosen path must fit, bytes.</summary>
    public required long BudgetBytes { get; init; }
    /// <summary>ONNX Runtime intra-op threads (0 = one per processor).</summary>
    public int Threads { get; init; }
    /// <summary>Where the layer stream's hidden states go when they do not fit in memory (null = system temp).</summary>
    public string? ScratchFolder { get; init; }
    public bool Cuda { get; init; }

    /// <summary>The default budget: 80% of the memory the runtime sees (physical memory, or the container's limit).</summary>
    public static long DefaultBudgetBytes() => (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * 0.8);
}

/// <summary>One dense-vs-pruned measurement: the evaluation (when paragraphs were given), latency (when asked; whole-model path only) and seconds of "eval" and "latency".</summary>
public sealed record DecoderMeasurement(PruneEvaluation? Evaluation, (LatencyResult Dense, LatencyResult Pruned)? Latency, IReadOnlyDictionary<string, double> Seconds);

/// <summary>
/// The "measure dense vs pruned" step for decoders (any <see cref="IMeasuredDecoder"/>), the one <c>prune</c>, <c>report</c>, <c>demo</c> and
/// <c>study</c> call: both perplexities (reference paragraph protocol), KL(dense || pruned), top-1 agreement and,
/// when asked, latency. The path follows an <see cref="EvaluationPlan"/> made before any weight is read: the
/// whole-model graphs when both fit the memory budget (each model runs twice: perplexity, then comparison; optionally
/// against a cache of the dense logits, for a study's many variants), else one decoder layer at a time (each model runs
/// once, <see cref="JointEvaluation"/>; no latency, which times the whole-model graphs). Open the dense side once,
/// then <see cref="Measure"/> any number of pruned variants of it.
/// </summary>
public sealed class DecoderComparison : IDisposable
{
    private readonly IMeasuredDecoder _dense;
    private readonly IModelTokenizer _tokenizer;
    private readonly IReadOnlyList<string>? _paragraphs;
    private readonly EvaluationPlan? _plan;
    private readonly MeasureOptions _options;
    private ILogitsRunner? _runner;
    private ILogitsRunner? _ownedRunner;
    private DenseReference? _reference;
    private double _denseSeconds;

    /// <summary>Whole-model graphs or one layer at a time.</summary>
    public EvaluationMode Path => _plan?.Path ?? EvaluationMode.Whole;

    /// <summary>Dense perplexity: known at open on a cached whole-model comparison, else after the first <see cref="Measure"/>.</summary>
    public PerplexityResult? DensePerplexity { get; private set; }

    private int MaxLength => _dense.MaxPositions;

    private DecoderComparison(IMeasuredDecoder dense, IModelTokenizer tokenizer, IReadOnlyList<string>? paragraphs, EvaluationPlan? plan, MeasureOptions options) =>
        (_dense, _tokenizer, _paragraphs, _plan, _options) = (dense, tokenizer, paragraphs, plan, options);

    /// <summary><see cref="Plan(IMeasuredDecoder, IModelTokenizer, IReadOnlyList{string}, MeasureOptions)"/> for an opened checkpoint, with its tokenizer.</summary>
    public static EvaluationPlan Plan(DecoderCheckpoint model, IReadOnlyList<string> paragraphs, MeasureOptions options) =>
        Plan(model.Weights, model.Tokenizer, paragraphs, options);

    /// <summary>
    /// The plan of comparing two models of <paramref name="model"/>'s shape on <paramref name="paragraphs"/> (batches in
    /// order, two models): made from token counts alone, before any weight is read; check it with
    /// <see cref="EvaluationPlan.ThrowIfOverBudget"/>.
    /// </summary>
    public static EvaluationPlan Plan(IMeasuredDecoder model, IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, MeasureOptions options)
    {
        var lengths = paragraphs.Select(p => Math.Min(tokenizer.Encode(p).Length, model.MaxPositions)).ToArray();
        return EvaluationPlan.Create(model.Shape, lengths, inOrder: true, models: 2, options.Mode, options.BudgetBytes, null, options.Threads, options.ScratchFolder, options.Cuda);
    }

    /// <summary>
    /// Opens the dense side. <paramref name="paragraphs"/> and <paramref name="plan"/> (from <see cref="Plan"/>) are null
    /// for a latency-only comparison (whole-model graphs). With <paramref name="cacheBudgetBytes"/> &gt; 0 on the
    /// whole-model path, the dense model is evaluated now and its logits kept while they fit (<see cref="DenseReference"/>).
    /// </summary>
    public static DecoderComparison Open(IMeasuredDecoder dense, IModelTokenizer tokenizer, IReadOnlyList<string>? paragraphs, EvaluationPlan? plan,
        MeasureOptions options, long cacheBudgetBytes = 0, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        if ((paragraphs == null) != (plan == null)) throw new ArgumentException("evaluation paragraphs and their plan come together");
        var comparison = new DecoderComparison(dense, tokenizer, paragraphs, plan, options);
        try
        {
            if (comparison.Path == EvaluationMode.Whole)
            {
                comparison._runner = dense.Runner ?? (comparison._ownedRunner = comparison.Runner(dense));
                if (paragraphs != null && cacheBudgetBytes > 0)
                {
                    var clock = Stopwatch.StartNew();
                    comparison._reference = DenseReference.Create(comparison._runner, tokenizer, paragraphs, comparison.MaxLength, cacheBudgetBytes, progress, ct);
                    comparison.DensePerplexity = comparison._reference.Perplexity;
                    comparison._denseSeconds = clock.Elapsed.TotalSeconds;
                }
            }
            return comparison;
        }
        catch
        {
            comparison.Dispose();
            throw;
        }
    }

    /// <summary>Opens, measures one pruned model and closes: the step for a single comparison (prune, report, demo).</summary>
    public static DecoderMeasurement Run(IMeasuredDecoder dense, IMeasuredDecoder pruned, IModelTokenizer tokenizer, IReadOnlyList<string>? paragraphs,
        EvaluationPlan? plan, MeasureOptions options, bool latency, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        using var comparison = Open(dense, tokenizer, paragraphs, plan, options, 0, progress, ct);
        return comparison.Measure(pruned, latency, progress, ct);
    }

    /// <summary>
    /// Measures <paramref name="pruned"/> against the dense model: the evaluation when paragraphs were given, and
    /// latency (1 x 128 tokens, interleaved) when <paramref name="latency"/> and the path is the whole-model one.
    /// </summary>
    public DecoderMeasurement Measure(IMeasuredDecoder pruned, bool latency, IProgress<EvaluationProgress>? progress = null, CancellationToken ct = default)
    {
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        int[] Encode(string text) => _tokenizer.Encode(text);
        if (Path == EvaluationMode.Layers)
        {
            var plan = _plan!;
            var dense = _dense.LayerStreamed(plan.StreamOptions, "dense layer");
            var streamed = pruned.LayerStreamed(plan.StreamOptions, "pruned layer");
            var joint = PruneEvaluation.Joint(dense, streamed, Encode, _paragraphs!, MaxLength, plan.BatchSize, progress, ct);
            DensePerplexity ??= joint.Before;
            seconds["eval"] = clock.Elapsed.TotalSeconds;
            return new DecoderMeasurement(joint, null, seconds);
        }
        using var owned = pruned.Runner == null ? Runner(pruned) : null;
        var runner = pruned.Runner ?? owned!;
        PruneEvaluation? evaluation = null;
        if (_paragraphs != null)
        {
            clock.Restart();
            evaluation = _reference is { } reference
                ? new PruneEvaluation(reference.Perplexity, reference.PerplexityOf(runner, progress, ct), reference.Compare(runner, progress, ct))
                : PruneEvaluation.Measure(_runner!, runner, Encode, _paragraphs, MaxLength, progress, ct);
            DensePerplexity ??= evaluation.Before;
            seconds["eval"] = clock.Elapsed.TotalSeconds;
        }
        (LatencyResult, LatencyResult)? timing = null;
        if (latency)
        {
            clock.Restart();
            timing = LatencyProbe.Compare(_runner!, runner, ct: ct);
            seconds["latency"] = clock.Elapsed.TotalSeconds;
        }
        return new DecoderMeasurement(evaluation, timing, seconds);
    }

    /// <summary>Seconds the dense evaluation took at open (cached whole-model comparisons; 0 otherwise).</summary>
    public double DenseSeconds => _denseSeconds;

    private ILogitsRunner Runner(IMeasuredDecoder model) =>
        model.OpenRunner(new OnnxRunnerOptions { IntraOpThreads = _options.Threads, UseCuda = _options.Cuda });

    public void Dispose()
    {
        _ownedRunner?.Dispose();
        _ownedRunner = null;
    }
}
