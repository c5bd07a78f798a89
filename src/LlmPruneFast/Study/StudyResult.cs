namespace LlmPruneFast.Study;

/// <summary>
/// One pruning run of the study: a model pruned by one method at one ratio under one compensation setting, scored
/// on the evaluation paragraphs against the dense model. Perplexities under the reference protocol; KL in nats per
/// position; seconds of this run only (selection, slicing, building the pruned graph, evaluating it; the model's
/// capture and dense evaluation are in <see cref="StudyModelRun"/>).
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
    public required double PerplexityBefore { get; init; }
    public required double PerplexityAfter { get; init; }
    public required double Kl { get; init; }
    public required double Top1Agreement { get; init; }
    public required long ParamsBefore { get; init; }
    public required long ParamsAfter { get; init; }
    public required long EvalTokens { get; init; }
    public required double Seconds { get; init; }

    /// <summary>perplexity after - perplexity before.</summary>
    public double DeltaPerplexity => PerplexityAfter - PerplexityBefore;
    /// <summary>(perplexity after - before) / before.</summary>
    public double RelativeDeltaPerplexity => DeltaPerplexity / PerplexityBefore;
    /// <summary>ln(perplexity after / perplexity before) = mean NLL after - mean NLL before, nats per token.</summary>
    public double DeltaNll => Math.Log(PerplexityAfter / PerplexityBefore);
}

/// <summary>Per model: the dense evaluation and the calibration captures shared by all its runs.</summary>
public sealed record StudyModelRun(StudyModel Model, double DensePerplexity, long EvalTokens, int EvalParagraphs,
    int Captures, long CalibrationSamples, double CaptureSeconds, double DenseSeconds);

/// <summary>What the study was asked to do (recorded in study.json and results.md).</summary>
public sealed record StudyRequest
{
    public required IReadOnlyList<string> Methods { get; init; }
    public required IReadOnlyList<double> Ratios { get; init; }
    /// <summary>Compensation names as asked ("none", "bias", "partner", "refit", or "default" = each method's own).</summary>
    public required IReadOnlyList<string> Compensations { get; init; }
    public required string CalibrationText { get; init; }
    public required string EvaluationText { get; init; }
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
}
