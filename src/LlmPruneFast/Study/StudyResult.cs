namespace LlmPruneFast.Study;

/// <summary>
/// One pruning run of the study: a model pruned by one method at one ratio under one compensation setting, scored
/// against the dense model by its family's measure. Decoders: perplexities under the reference protocol on the
/// evaluation paragraphs, KL in nats per position, top-1 agreement. Encoders: fidelity (mean cosine of pruned to dense
/// sentence embeddings) and, with STS pairs, Spearman x 100 before and after. The other family's fields are NaN.
/// Seconds of this run only (selection, slicing, building or writing the pruned model, measuring it; the model's
/// capture and dense measurement are in <see cref="StudyModelRun"/>).
/// </summary>
public sealed record StudyRow
{
    public required StudyModel Model { get; init; }
    public required string Method { get; init; }
    public required double Ratio { get; init; }
    /// <summary>Compensation setting as asked: a kind, or "default" (each method's own); rows are compared within one setting.</summary>
    public required string CompensationSetting { get; init; }
    /// <summary>Compensation applied (the resolved kind: "none", "bias", "partner" or "refit").</summary>
    public required string Compensation { get; init; }
    public double PerplexityBefore { get; init; } = double.NaN;
    public double PerplexityAfter { get; init; } = double.NaN;
    public double Kl { get; init; } = double.NaN;
    public double Top1Agreement { get; init; } = double.NaN;
    /// <summary>Encoders: mean cosine of pruned to dense embeddings of the evaluation sentences.</summary>
    public double Fidelity { get; init; } = double.NaN;
    /// <summary>Encoders: the smallest of those cosines.</summary>
    public double FidelityMin { get; init; } = double.NaN;
    /// <summary>Encoders with STS pairs: Spearman x 100 of the dense and of the pruned encoder.</summary>
    public double StsBefore { get; init; } = double.NaN;
    public double StsAfter { get; init; } = double.NaN;
    public required long ParamsBefore { get; init; }
    public required long ParamsAfter { get; init; }
    /// <summary>Decoders: evaluated tokens.</summary>
    public long EvalTokens { get; init; }
    /// <summary>Encoders: sentences fidelity was measured on, and STS pairs (0 without).</summary>
    public int Sentences { get; init; }
    public int Pairs { get; init; }
    public required double Seconds { get; init; }

    public string Family => Model.Family;

    /// <summary>perplexity after - perplexity before.</summary>
    public double DeltaPerplexity => PerplexityAfter - PerplexityBefore;
    /// <summary>(perplexity after - before) / before.</summary>
    public double RelativeDeltaPerplexity => DeltaPerplexity / PerplexityBefore;
    /// <summary>ln(perplexity after / perplexity before) = mean NLL after - mean NLL before, nats per token.</summary>
    public double DeltaNll => Math.Log(PerplexityAfter / PerplexityBefore);
    /// <summary>1 - fidelity = the mean cosine distance of pruned to dense embeddings (0 = unchanged).</summary>
    public double CosineDistance => 1 - Fidelity;
    /// <summary>STS after - before (Spearman x 100).</summary>
    public double DeltaSts => StsAfter - StsBefore;

    /// <summary>The damage d this run did in its family's measure (<see cref="Sensitivity"/>): <see cref="DeltaNll"/> or <see cref="CosineDistance"/>.</summary>
    public double D => Family == StudyFamily.Encoder ? CosineDistance : DeltaNll;
}

/// <summary>
/// Per model: the dense measurement and the calibration captures shared by all its runs. Decoders: dense perplexity
/// on the paragraphs; encoders: <see cref="DenseSts"/> (NaN without pairs), <see cref="Sentences"/> and <see cref="Pairs"/>,
/// with <see cref="DensePerplexity"/> NaN.
/// </summary>
public sealed record StudyModelRun(StudyModel Model, double DensePerplexity, long EvalTokens, int EvalParagraphs,
    int Captures, long CalibrationSamples, double CaptureSeconds, double DenseSeconds)
{
    public double DenseSts { get; init; } = double.NaN;
    public int Sentences { get; init; }
    public int Pairs { get; init; }
}

/// <summary>What the study was asked to do (recorded in study.json and results.md).</summary>
public sealed record StudyRequest
{
    public required IReadOnlyList<string> Methods { get; init; }
    public required IReadOnlyList<double> Ratios { get; init; }
    /// <summary>Compensation names as asked ("none", "bias", "partner", "refit", or "default" = each method's own).</summary>
    public required IReadOnlyList<string> Compensations { get; init; }
    public required string CalibrationText { get; init; }
    public required string EvaluationText { get; init; }
    /// <summary>The STS pair file encoders were scored on; null when none.</summary>
    public string? StsText { get; init; }
    /// <summary>First N paragraphs of the evaluation text; null = all.</summary>
    public int? EvalParagraphs { get; init; }
    public required int Samples { get; init; }
    /// <summary>What a calibration sequence was (windows, or every paragraph).</summary>
    public Capture.CalibrationLayout Layout { get; init; } = Capture.CalibrationLayout.Windows;
    public required long Seed { get; init; }

    /// <summary>"windows of at most 256 tokens, as many as S needs" or "every paragraph".</summary>
    public string LayoutText => Layout == Capture.CalibrationLayout.Windows
        ? $"windows of at most {Capture.CalibrationOptions.DefaultSequenceLength} tokens of seeded paragraphs, as many as S needs"
        : "every paragraph";
}

/// <summary>Everything a study produced.</summary>
public sealed record StudyResult
{
    public required StudyRequest Request { get; init; }
    public required IReadOnlyList<StudyModelRun> Models { get; init; }
    public required IReadOnlyList<StudyRow> Rows { get; init; }
    public required IReadOnlyList<SensitivityRow> Sensitivity { get; init; }
    public required double Seconds { get; init; }

    /// <summary>The families present, in <see cref="StudyFamily.All"/> order.</summary>
    public IReadOnlyList<string> Families => StudyFamily.All.Where(f => Models.Any(m => m.Model.Family == f)).ToArray();
}
