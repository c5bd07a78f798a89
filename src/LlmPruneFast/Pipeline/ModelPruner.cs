using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// The pruning pipeline on a LLaMA checkpoint: checks the request before any work, captures calibration activations
/// (<see cref="CalibrationCapture"/>), selects with <see cref="Pruner"/> (scoring multi-seed candidates by
/// KL(original || pruned) on held-out calibration paragraphs), and slices with compensation. Callers outside the
/// engine pass a <see cref="DecoderCheckpoint"/>; the overloads on the LLaMA config and tensors are internal (tests
/// and benchmarks).
/// </summary>
public static class ModelPruner
{
    /// <summary><see cref="Options(PruneSettings, LlamaConfig, CalibrationInfo?)"/> for an opened checkpoint.</summary>
    public static PruningOptions Options(PruneSettings settings, DecoderCheckpoint model) => Options(settings, model.Config);

    /// <summary>
    /// Pruner options for <paramref name="settings"/>: unknown method, estimator, compensation, a ratio outside (0, 1)
    /// or one that would empty a layer of <paramref name="config"/> are <see cref="BadArgumentException"/>s, raised
    /// before anything is computed.
    /// </summary>
    internal static PruningOptions Options(PruneSettings settings, LlamaConfig config, CalibrationInfo? calibration = null)
    {
        CheckCompensation(settings, config);
        if (settings.Compensation == null && CompensationWithoutFfnBiases(config) is { } kind) settings = settings with { Compensation = kind };
        return PrunablePipeline.Options(settings, Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnWidth).ToArray(), calibration);
    }

    /// <summary>
    /// Every compensation but none writes FFN down biases, which only LLaMA's transformers class has: for other model
    /// types (mistral, qwen2) the default is none and any other choice is refused (exit 4) before any work.
    /// </summary>
    private static CompensationKind? CompensationWithoutFfnBiases(LlamaConfig config) => HfConfig.SupportsMlpBias(config.ModelType) ? null : CompensationKind.None;

    /// <summary>Refuses a compensation that needs FFN biases on a model type whose transformers class has none.</summary>
    private static void CheckCompensation(PruneSettings settings, LlamaConfig config)
    {
        if (settings.Compensation is { } kind && kind != CompensationKind.None && !HfConfig.SupportsMlpBias(config.ModelType))
            throw new UnsupportedArchitectureException($"--compensate {CompensationKinds.Name(kind)} adds FFN down biases, which model_type '{config.ModelType}' " +
                "cannot hold (transformers' class has no mlp_bias); use --compensate none (the default for this model type)");
    }

    /// <summary><see cref="Run(LlamaConfig, ITensorSource, string, IModelTokenizer, string, string, PruneSettings, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint (its tokenizer; the plan names its folder).</summary>
    public static PruneOutcome Run(DecoderCheckpoint model, string calibrationText, string calibrationName, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Run(model.Config, model.Tensors, model.Directory, model.Tokenizer, calibrationText, calibrationName, settings, progress, ct);

    /// <summary>Captures, selects and slices. <paramref name="modelName"/> goes into the plan's fingerprint.</summary>
    internal static PruneOutcome Run(LlamaConfig config, ITensorSource tensors, string modelName, IModelTokenizer tokenizer,
        string calibrationText, string calibrationName, PruneSettings settings, IProgress<StageProgress>? progress = null,
        CancellationToken ct = default)
    {
        Options(settings, config);
        var clock = Stopwatch.StartNew();
        var calibration = new LlamaModel(config, tensors, tokenizer).Capture(calibrationText, calibrationName, CalibrationFor(settings),
            progress == null ? null : new SyncProgress<CaptureProgress>(p => progress.Report(new StageProgress("capture", (double)p.Done / Math.Max(1, p.Total)))), ct);
        double captureSeconds = clock.Elapsed.TotalSeconds;
        var outcome = Select(config, tensors, CheckpointLayerSource.Fingerprint(modelName, config, tensors), calibration, settings, progress, ct);
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

    /// <summary><see cref="Select(LlamaConfig, ITensorSource, ModelFingerprint, CalibrationSet, PruneSettings, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint.</summary>
    public static PruneOutcome Select(DecoderCheckpoint model, ModelFingerprint fingerprint, CalibrationSet calibration, PruneSettings settings,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Select(model.Config, model.Tensors, fingerprint, calibration, settings, progress, ct);

    /// <summary>
    /// Selects and slices with activations already captured (<paramref name="calibration"/>, made with
    /// <see cref="CalibrationFor"/>(<paramref name="settings"/>)): what <see cref="Run"/> does after capture, so a
    /// caller pruning one model many times (the study) captures once. Stage seconds: select, slice.
    /// </summary>
    internal static PruneOutcome Select(LlamaConfig config, ITensorSource tensors, ModelFingerprint fingerprint, CalibrationSet calibration,
        PruneSettings settings, IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        var outcome = SelectWith(config, tensors, fingerprint, new CheckpointLayerSource(config, tensors, calibration.Layers), calibration.Info,
            calibration.HeldOut, settings, progress, ct);
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
    internal static (PruningPlan Plan, SlicedFfnLayer[] Layers, Dictionary<string, double> StageSeconds) SelectWith(LlamaConfig config, ITensorSource tensors,
        ModelFingerprint fingerprint, ILayerSource source, CalibrationInfo info, IReadOnlyList<int[]> heldOutSequences, PruneSettings settings,
        IProgress<StageProgress>? progress, CancellationToken ct, Func<SlicedFfnLayer, SlicedFfnLayer>? keep = null, LayerStreamOptions? scoringStream = null,
        Func<double>? captureSeconds = null)
    {
        var options = Options(settings, config);
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
            var path = ScoringPath(settings, config, heldOut.Select(h => h.Length).ToArray());
            var stream = scoringStream ?? new LayerStreamOptions { Threads = settings.Threads, Cuda = settings.Device.OnnxCuda, ScratchFolder = settings.ScratchFolder };
            options = options with
            {
                CandidatesScorer = plans =>
                {
                    var scoreClock = Stopwatch.StartNew();
                    double before = Capture();
                    var kls = path == EvaluationMode.Whole
                        ? LlamaCandidateScoring.Whole(config, tensors, source, plans, heldOut, CandidateScoring.BatchSize, new OnnxRunnerOptions { IntraOpThreads = settings.Threads, UseCuda = settings.Device.OnnxCuda }, stageProgress, ct)
                        : LlamaCandidateScoring.Layered(config, tensors, source, plans, heldOut, CandidateScoring.BatchSize, stream, stageProgress, ct);
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
    internal static EvaluationMode ScoringPath(PruneSettings settings, LlamaConfig config, IReadOnlyList<int> heldOutLengths) =>
        CandidateScoring.Choose(settings.CandidateScoring,
            settings.CandidateScoring == EvaluationMode.Auto
                ? StreamingMemoryPlan.BaselineBytes + CandidateScoring.WholeBytes(config.Shape(), heldOutLengths, settings.Ratio, settings.Threads)
                : 0,
            settings.Calibration.MemoryBudgetBytes);

    /// <summary><see cref="Apply(PruningPlan, LlamaConfig, ITensorSource, string, IModelTokenizer, CalibrationOptions?, IProgress{StageProgress}?, CancellationToken, SlicedLayerSpill?)"/> on an opened checkpoint (fingerprint under its folder's name).</summary>
    public static SlicedFfnLayer[] Apply(PruningPlan plan, DecoderCheckpoint model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default, SlicedLayerSpill? spill = null) =>
        Apply(plan, model.Config, model.Tensors, model.Directory, model.Tokenizer, calibrationDefaults, progress, ct, spill);

    /// <summary>
    /// Re-derives the sliced layers of <paramref name="plan"/> on the model it was made for (checked by fingerprint).
    /// When its compensation needs activations, they are streamed again with the plan's recorded calibration (text file,
    /// S, seed, sequences, capture mode; other settings at their defaults, as <c>prune</c> uses them).
    /// </summary>
    /// <exception cref="BadArgumentException">The plan was made for another model.</exception>
    /// <exception cref="MissingInputException">Activations are needed and the recorded calibration text is absent.</exception>
    /// <param name="spill">When given, each layer goes to this scratch file as soon as it is cut (memory does not grow with depth).</param>
    internal static SlicedFfnLayer[] Apply(PruningPlan plan, LlamaConfig config, ITensorSource tensors, string modelName,
        IModelTokenizer tokenizer, CalibrationOptions? calibrationDefaults = null, IProgress<StageProgress>? progress = null, CancellationToken ct = default,
        SlicedLayerSpill? spill = null)
    {
        plan.EnsureMatches(CheckpointLayerSource.Fingerprint(modelName, config, tensors));
        // Activations are streamed layer by layer (the dense stream gives the whole-model capture's values bit for bit,
        // and a sequential plan needs its own pruned layers upstream), so apply's memory does not grow with depth.
        if (NeedsActivations(plan))
        {
            plan.Validate();
            if (plan.Model.Layers != config.NumHiddenLayers)
                throw new BadArgumentException($"plan made for another model: {plan.Model.Layers} layers in the plan, {config.NumHiddenLayers} in the model");
            return StreamingPruner.Apply(plan, config, tensors, tokenizer, calibrationDefaults ?? new CalibrationOptions(), false, progress, ct, spill).Layers;
        }
        var source = new CheckpointLayerSource(config, tensors);
        return Pruner.ApplyPlan(plan, source, progress == null ? null : new SyncProgress<PruningProgress>(p => progress.Report(new StageProgress(p.Stage, p.Fraction))), ct)
            .Select(x => spill == null ? x : spill.Add(x)).ToArray();
    }

    /// <summary><see cref="Recapture(PruningPlan, LlamaConfig, ITensorSource, IModelTokenizer, CalibrationOptions?, IProgress{StageProgress}?, CancellationToken)"/> on an opened checkpoint, with its tokenizer.</summary>
    public static CalibrationSet Recapture(PruningPlan plan, DecoderCheckpoint model, CalibrationOptions? calibrationDefaults = null,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Recapture(plan, model.Config, model.Tensors, model.Tokenizer, calibrationDefaults, progress, ct);

    /// <summary>
    /// The calibration activations <paramref name="plan"/> was made from, captured again from its recorded
    /// calibration (text file, S, seed; other settings at their defaults, as <c>prune</c> uses them).
    /// </summary>
    /// <exception cref="MissingInputException">The plan records no calibration, or its text file is absent.</exception>
    internal static CalibrationSet Recapture(PruningPlan plan, LlamaConfig config, ITensorSource tensors, IModelTokenizer tokenizer,
        CalibrationOptions? calibrationDefaults = null, IProgress<StageProgress>? progress = null, CancellationToken ct = default)
    {
        var info = plan.Calibration ?? throw new MissingInputException("the plan records no calibration text, so its activations cannot be recaptured");
        if (!File.Exists(info.Text)) throw new MissingInputException($"the plan's calibration text '{info.Text}' does not exist");
        var options = (calibrationDefaults ?? new CalibrationOptions()).Reproducing(info);
        return new LlamaModel(config, tensors, tokenizer).Capture(TextCorpus.Read(info.Text), info.Text, options,
            progress == null ? null : new SyncProgress<CaptureProgress>(p => progress.Report(new StageProgress("capture", (double)p.Done / Math.Max(1, p.Total)))), ct);
    }

    /// <summary>True when slicing <paramref name="plan"/> needs calibration activations (compensation other than none, something removed).</summary>
    public static bool NeedsActivations(PruningPlan plan) =>
        plan.Compensation.Kind != "none" && plan.Layers.Any(l => l.Removed.Count > 0);
}
