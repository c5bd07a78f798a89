using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>Capture, select, slice on any <see cref="IPrunableModel"/>.</summary>
public static class PrunablePipeline
{
    /// <summary>
    /// Pruner options for <paramref name="settings"/> on layers of <paramref name="widths"/>: unknown method,
    /// estimator, compensation, a ratio outside (0, 1) or one that would empty a layer are
    /// <see cref="BadArgumentException"/>s, raised before anything is computed.
    /// </summary>
    public static PruningOptions Options(PruneSettings settings, IReadOnlyList<int> widths, CalibrationInfo? calibration = null)
    {
        var selector = PruningSelectors.Create(settings.Method, settings.MethodParameters);
        var estimator = EstimatorPairInformation.Create(settings.Estimator, settings.EstimatorOptions, settings.Device); // validates the name always
        var budget = new PruningBudget(settings.Budget, settings.Ratio, settings.MinKeptFraction);
        budget.OrderLengths(widths);
        return new PruningOptions
        {
            Selector = selector,
            Estimator = selector.UsesInformation ? estimator : null,
            // The Gram matrices go where MI estimation goes: the ILGPU CUDA kernels (cuBLAS DGEMM where it loads).
            Gram = settings.Device.EstimationCuda ? IlgpuGramDevice.Cuda : null,
            Budget = budget,
            Compensation = settings.Compensation is { } kind
                ? new CompensationOptions(kind, selector is ObsSelector obs ? obs.Damping : CompensationOptions.DefaultRidge)
                : null,
            Seed = settings.Seed,
            Calibration = calibration,
        };
    }

    /// <summary>
    /// Captures with <see cref="PruneSettings.Calibration"/>, selects and slices. A multi-seed method runs its base
    /// seed only: scoring candidates by KL needs logits, which a generic graph need not have.
    /// </summary>
    public static PruneOutcome Run(IPrunableModel model, string calibrationText, string calibrationName, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        Options(settings, model.Widths); // every name and the ratio checked before the capture
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        var calibration = model.Capture(calibrationText, calibrationName, settings.Calibration,
            progress == null ? null : new SyncProgress<CaptureProgress>(p => progress.Report(new StageProgress("capture", (double)p.Done / Math.Max(1, p.Total)))), ct);
        seconds["capture"] = clock.Elapsed.TotalSeconds;
        var outcome = Select(model, calibration, settings, progress, ct);
        foreach (var (stage, s) in outcome.StageSeconds) seconds[stage] = s;
        return new PruneOutcome { Plan = outcome.Plan, Layers = outcome.Layers, Calibration = calibration, StageSeconds = seconds };
    }

    /// <summary>
    /// Selects and slices on activations already captured with <see cref="PruneSettings.Calibration"/>: the steps of
    /// <see cref="Run"/> after its capture, for callers that prune one capture many ways (a study).
    /// </summary>
    public static PruneOutcome Select(IPrunableModel model, CalibrationSet calibration, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        var options = Options(settings, model.Widths) with { Calibration = calibration.Info };
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        var source = model.Layers(calibration.Layers);
        var stageProgress = progress == null ? null : new SyncProgress<PruningProgress>(p => progress.Report(new StageProgress(p.Stage, p.Fraction)));
        var plan = Pruner.Plan(model.Fingerprint(), source, options, stageProgress, ct);
        seconds["select"] = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var sliced = Pruner.ApplyPlan(plan, source, stageProgress, ct).ToArray();
        seconds["slice"] = clock.Elapsed.TotalSeconds;
        return new PruneOutcome { Plan = plan, Layers = sliced, Calibration = calibration, StageSeconds = seconds };
    }

    /// <summary>
    /// The calibration activations <paramref name="plan"/> was made from, captured again on <paramref name="model"/>
    /// from the plan's recorded calibration (text file read by <paramref name="readText"/>, S, seed, sequences; other
    /// settings from <paramref name="defaults"/>, as <c>prune</c> uses them).
    /// </summary>
    /// <exception cref="MissingInputException">The plan records no calibration, or its text file is absent.</exception>
    public static CalibrationSet Recapture(IPrunableModel model, PruningPlan plan, Func<string, string> readText, CalibrationOptions? defaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        var info = plan.Calibration ?? throw new MissingInputException("the plan records no calibration text, so its activations cannot be recaptured");
        if (!File.Exists(info.Text)) throw new MissingInputException($"the plan's calibration text '{info.Text}' does not exist");
        var options = (defaults ?? new CalibrationOptions()).Reproducing(info);
        return model.Capture(readText(info.Text), info.Text, options,
            progress == null ? null : new SyncProgress<CaptureProgress>(p => progress.Report(new StageProgress("capture", (double)p.Done / Math.Max(1, p.Total)))), ct);
    }

    /// <summary>
    /// Re-derives the sliced layers of <paramref name="plan"/> on <paramref name="model"/> (checked by fingerprint:
    /// a plan made for another model is a <see cref="BadArgumentException"/>), recapturing the activations when its
    /// compensation needs them (see <see cref="Recapture"/>).
    /// </summary>
    public static SlicedFfnLayer[] Apply(IPrunableModel model, PruningPlan plan, Func<string, string> readText, CalibrationOptions? defaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        plan.EnsureMatches(model.Fingerprint());
        var activations = ModelPruner.NeedsActivations(plan) ? Recapture(model, plan, readText, defaults, progress, ct).Layers : null;
        var stageProgress = progress == null ? null : new SyncProgress<PruningProgress>(p => progress.Report(new StageProgress(p.Stage, p.Fraction)));
        return Pruner.ApplyPlan(plan, model.Layers(activations), stageProgress, ct).ToArray();
    }
}
