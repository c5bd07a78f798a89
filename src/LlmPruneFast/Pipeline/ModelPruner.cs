using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// The pruning pipeline on a decoder (<see cref="IPrunableDecoder"/>, the family adapter's face; a
/// <see cref="DecoderCheckpoint"/> from the verbs): checks the request before any work, captures calibration
/// activations, selects with <see cref="Pruner"/> (scoring multi-seed candidates by KL(original || pruned) on held-out
/// calibration paragraphs), and slices with compensation.
/// </summary>
public static class ModelPruner
{
    /// <summary><see cref="Options(PruneSettings, IPrunableDecoder, CalibrationInfo?)"/> for an opened checkpoint.</summary>
    public static PruningOptions Options(PruneSettings settings, DecoderCheckpoint model) => Options(settings, model.Prunable(model.Directory));

    /// <summary>
    /// Pruner options for <paramref name="settings"/>: unknown method, estimator, compensation, a ratio outside (0, 1)
    /// or one that would empty a layer of <paramref name="model"/> are <see cref="BadArgumentException"/>s, raised
    /// before anything is computed. A model that cannot hold FFN down biases defaults to no compensation and refuses
    /// any other (<see cref="UnsupportedArchitectureException"/>, exit 4).
    /// </summary>
    public static PruningOptions Options(PruneSettings settings, IPrunableDecoder model, CalibrationInfo? calibration = null)
    {
        string? refusal = model.FfnBiasRefusal;
        if (settings.Compensation is { } kind && kind != CompensationKind.None && refusal != null)
            throw new UnsupportedArchitectureException($"--compensate {CompensationKinds.Name(kind)} adds FFN down biases, which {refusal}; " +
                "use --compensate none (the default for this model type)");
        if (settings.Compensation == null && refusal != null) settings = settings with { Compensation = CompensationKind.None };
        return PrunablePipeline.Options(settings, model.Widths, calibration);
    }

    /// <summary><see cref="Run(IPrunableDecoder, string, string, PruneSettings, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint (its tokenizer; the plan names its folder).</summary>
    public static PruneOutcome Run(DecoderCheckpoint model, string calibrationText, string calibrationName, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Run(model.Prunable(model.Directory), calibrationText, calibrationName, settings, progress, ct);

    /// <summary>Captures, selects and slices. The model's name goes into the plan's fingerprint.</summary>
    public static PruneOutcome Run(IPrunableDecoder model, string calibrationText, string calibrationName, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        Options(settings, model);
        var clock = Stopwatch.StartNew();
        var calibration = model.Capture(calibrationText, calibrationName, CalibrationFor(settings),
            progress == null ? null : new SyncProgress<CaptureProgress>(p => progress.Report(new StageProgress("capture", (double)p.Done / Math.Max(1, p.Total)))), ct);
        double captureSeconds = clock.Elapsed.TotalSeconds;
        var outcome = Select(model, model.Fingerprint(), calibration, settings, progress, ct);
        var seconds = new Dictionary<string, double> { ["capture"] = captureSeconds };
        foreach (var (stage, s) in outcome.StageSeconds) seconds[stage] = s;
        return new PruneOutcome { Plan = outcome.Plan, Layers = outcome.Layers, Calibration = calibration, StageSeconds = seconds };
    }

    /// <summary>
    /// The capture options <see cref="Run"/> uses for <paramref name="settings"/>: its calibration options, with
    /// <see cref="PruneSettings.CandidateHeldOut"/> paragraphs held out when the method scores several candidates by KL
    /// (and none were asked for). Two runs whose options are equal can share one <see cref="CalibrationSet"/>.
    /// </summary>
    public static CalibrationOptions CalibrationFor(PruneSettings settings) =>
        PruningSelectors.Create(settings.Method, settings.MethodParameters).Candidates > 1 && settings.Calibration.HeldOutSequences == 0
            ? settings.Calibration with { HeldOutSequences = settings.CandidateHeldOut }
            : settings.Calibration;

    /// <summary><see cref="Select(IPrunableDecoder, ModelFingerprint, CalibrationSet, PruneSettings, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint.</summary>
    public static PruneOutcome Select(DecoderCheckpoint model, ModelFingerprint fingerprint, CalibrationSet calibration, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Select(model.Prunable(model.Directory), fingerprint, calibration, settings, progress, ct);

    /// <summary>
    /// Selects and slices with activations already captured (<paramref name="calibration"/>, made with
    /// <see cref="CalibrationFor"/>(<paramref name="settings"/>)): what <see cref="Run"/> does after capture, so a
    /// caller pruning one model many times (the study) captures once. Stage seconds: select, slice.
    /// </summary>
    public static PruneOutcome Select(IPrunableDecoder model, ModelFingerprint fingerprint, CalibrationSet calibration,
        PruneSettings settings, IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        var outcome = SelectWith(model, fingerprint, model.Layers(calibration.Layers), calibration.Info, calibration.HeldOut, settings, progress, ct);
        return new PruneOutcome { Plan = outcome.Plan, Layers = outcome.Layers, Calibration = calibration, StageSeconds = outcome.StageSeconds };
    }

    /// <summary>
    /// <see cref="Select"/> on any layer source (the whole-model capture's, or a streaming one): plans, scoring
    /// multi-seed candidates by KL on <paramref name="heldOut"/>, then slices. Calibration of the outcome is null.
    /// </summary>
    /// <param name="keep">Applied to each sliced layer as it is cut (e.g. <see cref="SlicedLayerSpill.Add"/>), before the next.</param>
    /// <param name="scoringStream">Options of the layered candidate scoring (scratch folder, in-memory limit); null = in memory, the settings' threads.</param>
    /// <param name="captureSeconds">Seconds the source has spent capturing so far (a streaming source's layer runs), so
    /// each stage's seconds leave them out; null = none.</param>
    /// <returns>Stage seconds: select, score (multi-seed methods), slice, each without <paramref name="captureSeconds"/>' share.</returns>
    internal static (PruningPlan Plan, SlicedFfnLayer[] Layers, Dictionary<string, double> StageSeconds) SelectWith(IPrunableDecoder model,
        ModelFingerprint fingerprint, ILayerSource source, CalibrationInfo info, IReadOnlyList<int[]> heldOutSequences, PruneSettings settings,
        IProgress<StageProgress>? progress, CancellationToken ct, Func<SlicedFfnLayer, SlicedFfnLayer>? keep = null, LayerStreamOptions? scoringStream = null,
        Func<double>? captureSeconds = null)
    {
        var options = Options(settings, model);
        NativeBlas.SetThreads(settings.Threads);   // OpenBLAS follows the tool's thread count
        var seconds = new Dictionary<string, double>();
        double Capture() => captureSeconds?.Invoke() ?? 0;
        double captureAtStart = Capture(), scoreSeconds = 0, scoreCapture = 0;
        var clock = Stopwatch.StartNew();
        var stageProgress = progress == null ? null : new SyncProgress<PruningProgress>(p => progress.Report(new StageProgress(p.Stage, p.Fraction)));
        options = options with { Calibration = info };
        if (options.Selector.Candidates > 1 && heldOutSequences.Count > 0)
        {
            var heldOut = heldOutSequences.Where(h => h.Length > 1).ToArray();
            var path = ScoringPath(settings, model.Shape, heldOut.Select(h => h.Length).ToArray());
            var stream = scoringStream ?? new LayerStreamOptions { Threads = settings.Threads, Cuda = settings.Device.OnnxCuda, ScratchFolder = settings.ScratchFolder };
            options = options with
            {
                CandidatesScorer = plans =>
                {
                    var scoreClock = Stopwatch.StartNew();
                    double before = Capture();
                    var kls = model.ScoreCandidates(source, plans, heldOut, path == EvaluationMode.Whole, CandidateScoring.BatchSize,
                        new OnnxRunnerOptions { IntraOpThreads = settings.Threads, UseCuda = settings.Device.OnnxCuda }, stream, stageProgress, ct);
                    (scoreSeconds, scoreCapture) = (scoreClock.Elapsed.TotalSeconds, Capture() - before);
                    return kls;
                },
            };
        }
        var plan = Pruner.Plan(fingerprint, source, options, stageProgress, ct);
        double selectCapture = Capture() - captureAtStart - scoreCapture;
        seconds["select"] = clock.Elapsed.TotalSeconds - scoreSeconds - selectCapture;
        if (options.CandidatesScorer != null) seconds["score"] = scoreSeconds - scoreCapture;
        clock.Restart();
        double captureAtSlice = Capture();
        var sliced = Pruner.ApplyPlan(plan, source, stageProgress, ct).Select(keep ?? (x => x)).ToArray();
        seconds["slice"] = clock.Elapsed.TotalSeconds - (Capture() - captureAtSlice);
        return (plan, sliced, seconds);
    }

    /// <summary>
    /// The candidate scoring path of <paramref name="settings"/>: as asked, or (auto) the whole-model graphs when their
    /// estimate with the runtime baseline fits the memory budget, else layer by layer.
    /// </summary>
    internal static EvaluationMode ScoringPath(PruneSettings settings, DecoderShape shape, IReadOnlyList<int> heldOutLengths) =>
        CandidateScoring.Choose(settings.CandidateScoring,
            settings.CandidateScoring == EvaluationMode.Auto
                ? StreamingMemoryPlan.BaselineBytes + CandidateScoring.WholeBytes(shape, heldOutLengths, settings.Ratio, settings.Threads)
                : 0,
            settings.Calibration.MemoryBudgetBytes);

    /// <summary><see cref="Apply(PruningPlan, IPrunableDecoder, CalibrationOptions?, IProgress{StageProgress}?, CancellationToken, SlicedLayerSpill?)"/> on an opened checkpoint (fingerprint under its folder's name).</summary>
    public static SlicedFfnLayer[] Apply(PruningPlan plan, DecoderCheckpoint model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default, SlicedLayerSpill? spill = null) =>
        Apply(plan, model.Prunable(model.Directory), calibrationDefaults, progress, ct, spill);

    /// <summary>
    /// Re-derives the sliced layers of <paramref name="plan"/> on the model it was made for (checked by fingerprint).
    /// When its compensation needs activations, they are streamed again with the plan's recorded calibration (text file,
    /// S, seed, sequences, capture mode; other settings at their defaults, as <c>prune</c> uses them).
    /// </summary>
    /// <exception cref="BadArgumentException">The plan was made for another model.</exception>
    /// <exception cref="MissingInputException">Activations are needed and the recorded calibration text is absent.</exception>
    /// <param name="spill">When given, each layer goes to this scratch file as soon as it is cut (memory does not grow with depth).</param>
    public static SlicedFfnLayer[] Apply(PruningPlan plan, IPrunableDecoder model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default, SlicedLayerSpill? spill = null)
    {
        plan.EnsureMatches(model.Fingerprint());
        // Activations are streamed layer by layer (the dense stream gives the whole-model capture's values bit for bit,
        // and a sequential plan needs its own pruned layers upstream), so apply's memory does not grow with depth.
        if (NeedsActivations(plan))
        {
            plan.Validate();
            if (plan.Model.Layers != model.Widths.Count)
                throw new BadArgumentException($"plan made for another model: {plan.Model.Layers} layers in the plan, {model.Widths.Count} in the model");
            return StreamingPruner.Apply(plan, model, calibrationDefaults ?? new CalibrationOptions(), false, progress, ct, spill).Layers;
        }
        var source = model.Layers(null);
        return Pruner.ApplyPlan(plan, source, progress == null ? null : new SyncProgress<PruningProgress>(p => progress.Report(new StageProgress(p.Stage, p.Fraction))), ct)
            .Select(x => spill == null ? x : spill.Add(x)).ToArray();
    }

    /// <summary><see cref="Recapture(PruningPlan, IPrunableDecoder, CalibrationOptions?, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint, with its tokenizer.</summary>
    public static CalibrationSet Recapture(PruningPlan plan, DecoderCheckpoint model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Recapture(plan, model.Prunable(model.Directory), calibrationDefaults, progress, ct);

    /// <summary>
    /// The calibration activations <paramref name="plan"/> was made from, captured again from its recorded
    /// calibration (text file, S, seed; other settings at their defaults, as <c>prune</c> uses them).
    /// </summary>
    /// <exception cref="MissingInputException">The plan records no calibration, or its text file is absent.</exception>
    public static CalibrationSet Recapture(PruningPlan plan, IPrunableDecoder model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        PrunablePipeline.Recapture(model, plan, TextCorpus.Read, calibrationDefaults, progress, ct);

    /// <summary>True when slicing <paramref name="plan"/> needs calibration activations (compensation other than none, something removed).</summary>
    public static bool NeedsActivations(PruningPlan plan) =>
        plan.Compensation.Kind != "none" && plan.Layers.Any(l => l.Removed.Count > 0);
}
