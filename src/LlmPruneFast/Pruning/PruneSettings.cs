using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Information;

namespace LlmPruneFast.Pruning;

/// <summary>Progress of a whole pruning run: the stage ("capture", "select", "score", "slice", ...) and its fraction done.</summary>
public readonly record struct StageProgress(string Stage, double Fraction);

/// <summary>Everything the <c>prune</c> verb asks for, minus files.</summary>
public sealed record PruneSettings
{
    public required string Method { get; init; }
    /// <summary>Method parameters (see <see cref="PruningSelectors.Create"/>); null = defaults.</summary>
    public PlanParameters? MethodParameters { get; init; }
    public string Estimator { get; init; } = "plugin";
    public MiEstimatorOptions EstimatorOptions { get; init; } = new();
    public required double Ratio { get; init; }
    public BudgetKind Budget { get; init; } = BudgetKind.Uniform;
    public double MinKeptFraction { get; init; } = PruningBudget.DefaultMinKeptFraction;
    /// <summary>Null = the method's documented default.</summary>
    public CompensationKind? Compensation { get; init; }
    public long Seed { get; init; }
    public CalibrationOptions Calibration { get; init; } = new();
    /// <summary>Calibration paragraphs held out to score the candidates of a multi-seed method by KL (mi-random-pairs).</summary>
    public int CandidateHeldOut { get; init; } = 16;
    /// <summary>ONNX Runtime intra-op threads for candidate scoring (0 = one per processor).</summary>
    public int Threads { get; init; }
    /// <summary>Folder for the streaming pipeline's hidden-state scratch file when it goes to disk (null = system temp).</summary>
    public string? ScratchFolder { get; init; }
    /// <summary>
    /// Where MI estimation and candidate scoring run (resolved <c>--device</c>); capture follows
    /// <see cref="CalibrationOptions.Cuda"/>. Default: the CPU.
    /// </summary>
    public Devices.ComputeDevice Device { get; init; } = Devices.ComputeDevice.Cpu;
    /// <summary>
    /// How a multi-seed method's candidates are scored (<see cref="Pipeline.CandidateScoring"/>): auto takes the whole-model
    /// graphs when they fit <see cref="CalibrationOptions.MemoryBudgetBytes"/>, else one decoder layer at a time.
    /// </summary>
    public EvaluationMode CandidateScoring { get; init; } = EvaluationMode.Auto;
}

/// <summary>A finished selection: the plan, its sliced layers, the calibration it used and seconds per stage.</summary>
public sealed class PruneOutcome : IDisposable
{
    public required PruningPlan Plan { get; init; }
    public required SlicedFfnLayer[] Layers { get; init; }
    public required CalibrationSet Calibration { get; init; }
    public required IReadOnlyDictionary<string, double> StageSeconds { get; init; }
    /// <summary>
    /// The scratch file holding the <see cref="Layers"/>' weights when they were spilled as they were cut (the
    /// streaming prune); the layers read from it until the outcome is disposed.
    /// </summary>
    public SlicedLayerSpill? Spill { get; init; }

    public void Dispose() => Spill?.Dispose();
}
