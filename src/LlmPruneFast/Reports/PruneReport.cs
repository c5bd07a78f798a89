using System.Globalization;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Reports;

/// <summary>
/// Everything the HTML report of one pruning run shows, and nothing else: the renderer computes no statistic, it
/// only draws what is here. Serialised as deterministic JSON by <see cref="ReportJson"/> (written beside the HTML).
/// MI values are in nats throughout.
/// </summary>
public sealed record PruneReport
{
    /// <summary>Format version written by this code.</summary>
    public const int CurrentVersion = 1;

    public int Version { get; init; } = CurrentVersion;
    public required string Title { get; init; }
    public required ReportSummary Summary { get; init; }
    /// <summary>Per layer statistics, ascending layer index.</summary>
    public IReadOnlyList<LayerReport> Layers { get; init; } = [];
    /// <summary>Cards of the most redundant removed neurons, highest MI first.</summary>
    public IReadOnlyList<NeuronCard> Cards { get; init; } = [];
    /// <summary>Sweep results (perplexity/KL against sparsity); empty when no sweep was run.</summary>
    public IReadOnlyList<SweepPoint> Sweep { get; init; } = [];
    /// <summary>Free-text notes shown under the title (provenance of data, caveats).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>A named parameter as displayed (value in invariant text).</summary>
public sealed record ReportParameter(string Name, string Value)
{
    /// <summary>The parameters of a plan, in their (ordinal) order.</summary>
    public static IReadOnlyList<ReportParameter> From(PlanParameters parameters) =>
        parameters.Select(kv => new ReportParameter(kv.Key, PlanParameters.Format(kv.Value))).ToArray();
}

/// <summary>A quantity measured on the dense model (before) and on the pruned one (after); either may be unknown.</summary>
public sealed record BeforeAfter(double? Before, double? After);

/// <summary>Calibration text (path or description), sampled token positions S and sampling seed.</summary>
public sealed record ReportCalibration(string Text, long Tokens, long Seed);

/// <summary>
/// Evaluation text and protocol. <see cref="Kind"/> is "paragraphs" (the first <see cref="Paragraphs"/> blank-line
/// separated paragraphs, each with BOS) or "windows" (<see cref="Window"/> tokens every <see cref="Stride"/>);
/// <see cref="Protocol"/> is the full sentence written into the report.
/// </summary>
public sealed record ReportEvaluation
{
    public required string Text { get; init; }
    public required string Kind { get; init; }
    public required string Protocol { get; init; }
    public int? Paragraphs { get; init; }
    public int? Window { get; init; }
    public int? Stride { get; init; }
    /// <summary>Scored tokens.</summary>
    public long? Tokens { get; init; }
}

/// <summary>
/// Label-free fidelity of a pruned sentence encoder: cosine between its embedding and the dense model's of the same
/// sentence, mean and minimum over <see cref="Sentences"/> sentences of <see cref="Text"/>.
/// </summary>
public sealed record ReportFidelity(string Text, int Sentences, double MeanCosine, double MinCosine);

/// <summary>STS: Spearman x 100 of cosine similarity against the gold scores of <see cref="Pairs"/> pairs of <see cref="Text"/>.</summary>
public sealed record ReportSts(string Text, int Pairs, double Before, double After);

/// <summary>Wall-clock seconds one stage of the run took.</summary>
/// <summary>Seconds of one stage and the device it ran on ("cpu", "cuda"; null in reports written before devices were recorded).</summary>
public sealed record StageTime(string Stage, double Seconds, string? Device = null);

/// <summary>The summary table of a run.</summary>
public sealed record ReportSummary
{
    /// <summary>Model path or name.</summary>
    public required string Model { get; init; }
    /// <summary>What kind of model, in words (e.g. "ONNX graph, 6 FFN blocks (gelu)"); absent for a LLaMA checkpoint.</summary>
    public string? Architecture { get; init; }
    /// <summary>True for a sentence encoder (fidelity and STS, no perplexity); absent for a decoder.</summary>
    public bool? Encoder { get; init; }
    public required string Method { get; init; }
    public IReadOnlyList<ReportParameter> MethodParameters { get; init; } = [];
    /// <summary>Estimator name, null for methods that use none.</summary>
    public string? Estimator { get; init; }
    public IReadOnlyList<ReportParameter> EstimatorParameters { get; init; } = [];
    /// <summary>Compensation kind and its parameters, e.g. "refit (ridge=0.01)".</summary>
    public required string Compensation { get; init; }
    /// <summary>Budget, e.g. "uniform" or "global (min kept fraction 0.1)".</summary>
    public required string Budget { get; init; }
    public long Seed { get; init; }
    public ReportCalibration? Calibration { get; init; }
    public ReportEvaluation? Evaluation { get; init; }
    /// <summary>Target fraction of FFN neurons removed.</summary>
    public required double Sparsity { get; init; }
    /// <summary>Fraction of FFN neurons the plan actually removes.</summary>
    public required double AchievedSparsity { get; init; }
    /// <summary>FFN neurons before (all) and after (kept).</summary>
    public required BeforeAfter FfnNeurons { get; init; }
    /// <summary>Parameter count of the whole model.</summary>
    public BeforeAfter? Parameters { get; init; }
    /// <summary>Size of the weight files, bytes.</summary>
    public BeforeAfter? Bytes { get; init; }
    /// <summary>ONNX Runtime latency per forward pass, milliseconds (see <see cref="LatencyProtocol"/>).</summary>
    public BeforeAfter? LatencyMs { get; init; }
    /// <summary>ONNX Runtime throughput, tokens per second.</summary>
    public BeforeAfter? TokensPerSecond { get; init; }
    /// <summary>How latency was measured (batch, length, repetitions, providers).</summary>
    public string? LatencyProtocol { get; init; }
    /// <summary>Perplexity under <see cref="Evaluation"/>.</summary>
    public BeforeAfter? Perplexity { get; init; }
    /// <summary>Mean KL(original || model) per token, nats (before is 0 by definition).</summary>
    public BeforeAfter? Kl { get; init; }
    /// <summary>Fraction of positions where the pruned model's top-1 token equals the original's.</summary>
    public double? Top1Agreement { get; init; }
    /// <summary>Encoders: cosine of pruned to dense sentence embeddings.</summary>
    public ReportFidelity? Fidelity { get; init; }
    /// <summary>Encoders: STS Spearman x 100, dense and pruned.</summary>
    public ReportSts? Sts { get; init; }
    public IReadOnlyList<StageTime> Stages { get; init; } = [];

    /// <summary>
    /// The summary fields a plan determines: model, method, estimator, compensation, budget, seed, calibration,
    /// sparsity and neuron counts. Measured quantities (perplexity, latency...) are added by the caller with <c>with</c>.
    /// </summary>
    public static ReportSummary FromPlan(PruningPlan plan)
    {
        long total = plan.Model.Widths.Sum(w => (long)w);
        long kept = plan.KeptNeurons;
        var comp = plan.Compensation.Parameters.Count == 0 ? plan.Compensation.Kind
            : $"{plan.Compensation.Kind} ({plan.Compensation.Parameters})";
        var budget = plan.Budget.Kind == "global"
            ? $"global (min kept fraction {plan.Budget.MinKeptFraction.ToString("R", CultureInfo.InvariantCulture)})" : plan.Budget.Kind;
        return new ReportSummary
        {
            Model = plan.Model.Name,
            Method = plan.Method,
            MethodParameters = ReportParameter.From(plan.MethodParameters),
            Estimator = plan.Estimator?.Name,
            EstimatorParameters = plan.Estimator is { } e ? ReportParameter.From(e.Parameters) : [],
            Compensation = comp,
            Budget = budget,
            Seed = plan.Seed,
            Calibration = plan.Calibration is { } c ? new ReportCalibration(c.Text, c.Tokens, c.Seed) : null,
            Sparsity = plan.Ratio,
            AchievedSparsity = total == 0 ? 0 : (double)(total - kept) / total,
            FfnNeurons = new BeforeAfter(total, kept),
        };
    }
}

/// <summary>
/// A histogram on explicit bin edges: bin b counts values v with Edges[b] &lt;= v &lt; Edges[b+1] (the last bin
/// also takes v == Edges[^1]). Edges.Length == Counts.Length + 1.
/// </summary>
public sealed record ReportHistogram(double[] Edges, long[] Counts)
{
    public long Total => Counts.Sum();
}

/// <summary>The MI threshold drawn on a layer's histogram (nats) and where its value comes from.</summary>
public sealed record MiThreshold(double Value, string Source);

/// <summary>
/// An MI matrix of the most redundant neurons of a layer: <see cref="Neurons"/> (original ids) in display order,
/// <see cref="Values"/> row-major k x k in nats (diagonal 0), <see cref="Removed"/>[i] true when the plan removes
/// Neurons[i]; <see cref="Selection"/> says how the neurons were chosen.
/// </summary>
public sealed record MiHeatmap(int[] Neurons, double[] Values, bool[] Removed, string Selection);

/// <summary>Statistics of one FFN layer.</summary>
public sealed record LayerReport
{
    public required int Index { get; init; }
    /// <summary>Original width N.</summary>
    public required int Width { get; init; }
    public required int Kept { get; init; }
    public required int Removed { get; init; }
    /// <summary>Calibration token positions S the statistics below were computed on (0 when none).</summary>
    public int Samples { get; init; }
    /// <summary>Distinct neuron pairs whose MI was estimated for <see cref="PairMi"/>.</summary>
    public int SampledPairs { get; init; }
    /// <summary>Distribution of I(z_i; z_j) over the sampled pairs, nats.</summary>
    public ReportHistogram? PairMi { get; init; }
    /// <summary>Permutation null on the same bin edges: MI of random pairs with one column's rows shuffled.</summary>
    public ReportHistogram? NullMi { get; init; }
    public int NullPairs { get; init; }
    /// <summary>The quantile q reported for the null, and its value in nats.</summary>
    public double? NullQuantile { get; init; }
    public double? NullQuantileValue { get; init; }
    /// <summary>Median of the sampled pair MI, nats.</summary>
    public double? PairMiMedian { get; init; }
    public MiThreshold? Threshold { get; init; }
    public MiHeatmap? Heatmap { get; init; }
}

/// <summary>
/// A removed neuron explained: its partner (the kept neuron carrying its information), the plan's MI and score
/// and reason, and <see cref="X"/>/<see cref="Y"/>: z_neuron and z_partner on the same subsample of calibration
/// positions, for a scatter plot.
/// </summary>
public sealed record NeuronCard
{
    public required int Layer { get; init; }
    public required int Neuron { get; init; }
    public required int Partner { get; init; }
    /// <summary>MI recorded in the plan, nats.</summary>
    public double? Mi { get; init; }
    /// <summary>The method's removal score from the plan (its definition depends on the method).</summary>
    public required double Score { get; init; }
    public required string Reason { get; init; }
    /// <summary>Position of this neuron in the layer's removal order (0 = removed first).</summary>
    public int RemovalRank { get; init; }
    /// <summary>MI of the pair re-estimated for the report on all S positions, nats.</summary>
    public double? ReportMi { get; init; }
    /// <summary>Pearson correlation of z_neuron and z_partner on all S positions.</summary>
    public double? Correlation { get; init; }
    public double? StdNeuron { get; init; }
    public double? StdPartner { get; init; }
    /// <summary>Positions S the statistics were computed on; X and Y hold a seeded subsample of them.</summary>
    public int Samples { get; init; }
    public float[] X { get; init; } = [];
    public float[] Y { get; init; } = [];
}

/// <summary>One point of a sparsity sweep: perplexity (under the report's evaluation) and mean KL in nats.</summary>
public sealed record SweepPoint(string Method, double Sparsity, string Compensation, double Perplexity, double Kl);
