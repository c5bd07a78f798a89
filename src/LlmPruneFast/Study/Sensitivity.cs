namespace LlmPruneFast.Study;

/// <summary>
/// Sensitivity of one model at one ratio under one compensation setting: how much the damage done by pruning
/// depends on the criterion (METHOD.md, "The small-vs-large study"). d is the model's family's measure (decoders:
/// ln(ppl after / before) in nats; encoders: 1 - fidelity); see <see cref="Sensitivity"/> for the formulas.
/// </summary>
public sealed record SensitivityRow
{
    public required StudyModel Model { get; init; }
    public required double Ratio { get; init; }
    public required string CompensationSetting { get; init; }
    /// <summary>Number of criteria (methods) K the spread is taken over.</summary>
    public required int Criteria { get; init; }
    /// <summary>Mean over criteria of d_k (<see cref="StudyRow.D"/>).</summary>
    public required double MeanD { get; init; }
    public required double MinD { get; init; }
    public required string MinMethod { get; init; }
    public required double MaxD { get; init; }
    public required string MaxMethod { get; init; }
    /// <summary>max_k d_k / min_k d_k; NaN when min_k d_k &lt;= 0 (a criterion that did no measurable damage makes the ratio meaningless).</summary>
    public required double MaxOverMin { get; init; }
    /// <summary>Sample standard deviation of d_k over the K criteria (divisor K - 1); NaN when K &lt; 2.</summary>
    public required double StdD { get; init; }

    /// <summary>The model's family: which measure d is in.</summary>
    public string Family => Model.Family;
}

/// <summary>
/// The study's sensitivity measure. For a model, a ratio and a compensation setting, with criteria k = 1..K:
/// d_k = ln(ppl_after,k / ppl_before) = NLL_after,k - NLL_before (nats per token: the change of the mean
/// log-loss). Sensitivity = the spread of d_k across criteria, reported two ways: max_k d_k / min_k d_k (defined
/// when min_k d_k &gt; 0) and the sample standard deviation sqrt(sum_k (d_k - mean d)^2 / (K - 1)).
/// <para>Why d_k and not the change of perplexity itself: models of different sizes start from different dense
/// perplexities, and perplexity is the exponential of the loss, so the same loss increase moves a worse model's
/// perplexity further; a spread of delta-perplexity would partly measure the dense level, not the criterion.
/// d_k is the loss change itself, additive, in the same unit for every model, and equals ln(1 + relative change of
/// perplexity); its ratio max/min is the ratio of relative damage in the small-change limit.</para>
/// </summary>
public static class Sensitivity
{
    /// <summary>Definition written into every study output.</summary>
    public const string Definition =
        "Sensitivity of a model at a ratio (per compensation setting) = spread across criteria k of " +
        "d_k = ln(ppl_after,k / ppl_before) = NLL_after - NLL_before in nats per token: " +
        "max/min = max_k d_k / min_k d_k (n/a when some d_k <= 0) and SD = sample standard deviation of d_k (divisor K - 1). " +
        "The log-ratio (not the change of perplexity) is used because models of different sizes start from different dense " +
        "perplexities and perplexity is exp(loss): the loss change is comparable across models, the perplexity change is not.";

    /// <summary>
    /// Definition for encoders (written into every study output that holds one): the same spread, of
    /// d_k = 1 - fidelity_k, the mean cosine distance between pruned and dense sentence embeddings.
    /// </summary>
    public const string EncoderDefinition =
        "Sensitivity of an encoder at a ratio (per compensation setting) = spread across criteria k of " +
        "d_k = 1 - fidelity_k = mean over the evaluation sentences of (1 - cos(pruned embedding, dense embedding)): " +
        "max/min = max_k d_k / min_k d_k (n/a when some d_k <= 0) and SD = sample standard deviation of d_k (divisor K - 1). " +
        "Fidelity is used (not STS) because it is label-free and moves with every change of the embeddings, where STS Spearman moves little at low sparsity; " +
        "it is a distance between embeddings, not a change of loss, so encoder and decoder sensitivities are in different units and are never compared.";

    /// <summary>The definition of <paramref name="family"/>'s measure.</summary>
    public static string DefinitionOf(string family) => family == StudyFamily.Encoder ? EncoderDefinition : Definition;

    /// <summary>
    /// One <see cref="SensitivityRow"/> per (model, ratio, compensation setting) group of <paramref name="rows"/>,
    /// in first-appearance order of models, then ascending ratio, then setting order of appearance.
    /// </summary>
    public static IReadOnlyList<SensitivityRow> Compute(IEnumerable<StudyRow> rows)
    {
        var list = rows.ToList();
        var models = list.Select(r => r.Model.Name).Distinct().ToList();
        var settings = list.Select(r => r.CompensationSetting).Distinct().ToList();
        return list.GroupBy(r => (r.Model.Name, r.Ratio, r.CompensationSetting))
            .OrderBy(g => models.IndexOf(g.Key.Name)).ThenBy(g => g.Key.Ratio).ThenBy(g => settings.IndexOf(g.Key.CompensationSetting))
            .Select(g => Of(g.ToList()))
            .ToArray();
    }

    /// <summary>The sensitivity of one group (all rows share model, ratio and compensation setting).</summary>
    public static SensitivityRow Of(IReadOnlyList<StudyRow> group)
    {
        if (group.Count == 0) throw new ArgumentException("empty group", nameof(group));
        if (group.Any(r => r.Family != group[0].Family)) throw new ArgumentException("a sensitivity group mixes families", nameof(group));
        var d = group.Select(r => r.D).ToArray();
        int lo = Array.IndexOf(d, d.Min()), hi = Array.IndexOf(d, d.Max());
        return new SensitivityRow
        {
            Model = group[0].Model,
            Ratio = group[0].Ratio,
            CompensationSetting = group[0].CompensationSetting,
            Criteria = d.Length,
            MeanD = d.Average(),
            MinD = d[lo],
            MinMethod = group[lo].Method,
            MaxD = d[hi],
            MaxMethod = group[hi].Method,
            MaxOverMin = MaxOverMin(d),
            StdD = SampleStd(d),
        };
    }

    /// <summary>max / min of <paramref name="values"/>; NaN when the minimum is not positive.</summary>
    public static double MaxOverMin(IReadOnlyList<double> values)
    {
        double min = values.Min();
        return min > 0 ? values.Max() / min : double.NaN;
    }

    /// <summary>Sample standard deviation (divisor n - 1), two-pass; NaN when n &lt; 2.</summary>
    public static double SampleStd(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return double.NaN;
        double mean = values.Average(), ss = 0;
        foreach (double v in values) ss += (v - mean) * (v - mean);
        return Math.Sqrt(ss / (values.Count - 1));
    }
}
