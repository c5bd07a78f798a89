using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Pipeline;

/// <summary>
/// A streaming prune, prepared: the calibration sample is drawn (text tokenized, positions chosen) and the memory plan
/// made, but no model has run and no weight has been read beyond the config.
/// </summary>
public sealed class StreamingPrune
{
    public required CalibrationSample Sample { get; init; }
    public required StreamingMemoryPlan Memory { get; init; }
    public required PruneSettings Settings { get; init; }
    public required CaptureMode Mode { get; init; }
    /// <summary>True for uniform budgets and single-candidate methods: each layer is selected and compensated while its activations are live.</summary>
    public required bool LayerByLayer { get; init; }
}

/// <summary>
/// The pruning pipeline on a decoder, one decoder layer at a time (the family's <see cref="IDecoderLayerStream"/>): per layer,
/// run the carried calibration hidden states through it, take its FFN activations, select, compensate, and move on.
/// Memory stays near one layer's weights + the hidden states + one layer's activation store, whatever the depth.
/// <para>Dense capture (default) gives the same activations, bit for bit, as the whole-model capture
/// (<see cref="CalibrationCapture"/>), hence the same plan. Sequential capture feeds layer l the outputs of layers
/// 0..l-1 already pruned and compensated, as SparseGPT does.</para>
/// <para>Uniform budgets with single-candidate methods select and compensate each layer while its activations are
/// live (one pass). A global budget or a multi-seed method needs every layer's order before any layer is cut: the
/// dense stream then runs twice (select, then compensate), and sequential capture is refused.</para>
/// <para>The verbs pass a <see cref="DecoderCheckpoint"/>; tests and benchmarks an <see cref="IPrunableDecoder"/>.</para>
/// </summary>
public static class StreamingPruner
{
    /// <summary><see cref="Prepare(IPrunableDecoder, string, string, PruneSettings, CaptureMode)"/> on an opened checkpoint, with its tokenizer.</summary>
    public static StreamingPrune Prepare(DecoderCheckpoint model, string text, string textName, PruneSettings settings, CaptureMode mode) =>
        Prepare(model.Prunable(model.Directory), text, textName, settings, mode);

    /// <summary>
    /// Checks the settings, tokenizes the calibration text, draws the sample and makes the memory plan. Nothing runs.
    /// </summary>
    /// <exception cref="BadArgumentException">Bad settings or calibration text; sequential capture with a global budget or a multi-seed method.</exception>
    public static StreamingPrune Prepare(IPrunableDecoder model, string text, string textName, PruneSettings settings, CaptureMode mode)
    {
        var options = ModelPruner.Options(settings, model);
        var calibration = ModelPruner.CalibrationFor(settings);
        bool layerByLayer = options.Budget.Kind == BudgetKind.Uniform && options.Selector.Candidates == 1;
        if (mode == CaptureMode.Sequential && !layerByLayer)
            throw new BadArgumentException(options.Selector.Candidates > 1
                ? $"--sequential cannot be used with --method {options.Selector.Name}, which chooses among {options.Selector.Candidates} whole-model candidates; drop --sequential or choose another method"
                : "--sequential needs --budget uniform: a global budget ranks every layer before any is pruned");
        var sample = model.Sample(text, textName, calibration);
        var memory = StreamingMemoryPlan.Create(model.Shape, sample, options, mode, calibration.MemoryBudgetBytes, calibration.Threads, settings.ScratchFolder, calibration.Cuda,
            settings.CandidateScoring);
        return new StreamingPrune { Sample = sample, Memory = memory, Settings = settings, Mode = mode, LayerByLayer = layerByLayer };
    }

    /// <summary><see cref="Run(StreamingPrune, IPrunableDecoder, IProgress{StageProgress}?, CancellationToken, bool, bool)"/> on an opened checkpoint; the plan names its folder.</summary>
    public static PruneOutcome Run(StreamingPrune prepared, DecoderCheckpoint model, IProgress<StageProgress>? progress = null, CancellationToken ct = default,
        bool keepActivations = false) =>
        Run(prepared, model.Prunable(model.Directory), progress, ct, keepActivations);

    /// <summary>
    /// Runs a prepared prune. Refuses (before reading any weight) when its memory plan is over the budget.
    /// Stage seconds: capture (layer runs), select, slice (compensation), as far as they can be told apart.
    /// </summary>
    /// <exception cref="MemoryBudgetException">The plan is over <see cref="CalibrationOptions.MemoryBudgetBytes"/>.</exception>
    /// <param name="keepActivations">Also keep every layer's activations in the outcome's calibration (for reports;
    /// memory then grows with depth).</param>
    /// <param name="spillLayers">Move each cut layer's weights to a scratch file beside the output as soon as it is cut
    /// (<see cref="SlicedLayerSpill"/>, owned by the outcome: dispose it after writing), so memory does not grow with
    /// depth; false keeps them in memory (float64 down projections).</param>
    public static PruneOutcome Run(StreamingPrune prepared, IPrunableDecoder model,
        IProgress<StageProgress>? progress = null, CancellationToken ct = default, bool keepActivations = false, bool spillLayers = true)
    {
        prepared.Memory.ThrowIfOverBudget();
        var spill = spillLayers ? SlicedLayerSpill.Create(prepared.Memory.StreamOptions.ScratchFolder) : null;
        try
        {
            return Run(prepared, model, spill, progress, ct, keepActivations);
        }
        catch
        {
            spill?.Dispose();
            throw;
        }
    }

    private static PruneOutcome Run(StreamingPrune prepared, IPrunableDecoder model, SlicedLayerSpill? spill,
        IProgress<StageProgress>? progress, CancellationToken ct, bool keepActivations)
    {
        var settings = prepared.Settings;
        var options = ModelPruner.Options(settings, model);
        NativeBlas.SetThreads(settings.Threads);
        var info = prepared.Sample.Info with { Capture = prepared.Mode };
        options = options with { Calibration = info };
        var seconds = new Dictionary<string, double> { ["capture"] = 0, ["select"] = 0, ["slice"] = 0 };
        var total = Stopwatch.StartNew();
        using var stream = model.OpenStream(prepared.Sample, prepared.Memory.StreamOptions);
        PruningPlan plan;
        SlicedFfnLayer[] sliced;
        var kept = keepActivations ? new LayerActivations[model.Widths.Count] : null;
        if (prepared.LayerByLayer)
            (plan, sliced) = LayerByLayer(model, stream, options, prepared.Mode, seconds, kept, spill, progress, ct);
        else
        {
            var fingerprint = model.Fingerprint();
            // Every layer's order first (budget allocation, candidate choice), then the cuts: the dense stream twice.
            var source = new StreamingLayerSource(model.Layers(null), stream, seconds, kept);
            // Candidates are scored on the path the memory plan chose (whole-model graphs, or layer by layer).
            var scoring = settings with { CandidateScoring = prepared.Memory.ScoringPath ?? settings.CandidateScoring };
            // Layer runs happen inside every stage: they are reported as capture, the rest as select, score and slice.
            var outcome = ModelPruner.SelectWith(model, fingerprint, source, info, prepared.Sample.HeldOut, scoring, progress, ct,
                spill == null ? null : spill.Add, prepared.Memory.StreamOptions, () => seconds["capture"]);
            (plan, sliced) = (outcome.Plan, outcome.Layers);
            var ordered = new Dictionary<string, double> { ["capture"] = seconds["capture"] };   // stages in pipeline order
            foreach (var stage in new[] { "select", "score", "slice" })
                if (outcome.StageSeconds.TryGetValue(stage, out double s)) ordered[stage] = s;
            seconds = ordered;
        }
        var calibration = new CalibrationSet
        {
            Layers = kept ?? [],
            Positions = prepared.Sample.Positions,
            HeldOut = prepared.Sample.HeldOut,
            Info = info,
            EligiblePositions = prepared.Sample.Eligible,
            Sequences = prepared.Sample.Sequences.Length,
            SequencesRun = prepared.Sample.ToRun.Length,
            TokensRun = prepared.Sample.TokensRun(),
            StoreBytes = ((long)prepared.Sample.Samples + prepared.Sample.LeadingRows.Count) * model.Widths.Max() * sizeof(float),
            Seconds = seconds["capture"],
        };
        return new PruneOutcome { Plan = plan, Layers = sliced, Calibration = calibration, StageSeconds = seconds, Spill = spill };
    }

    /// <summary><see cref="Apply(PruningPlan, IPrunableDecoder, CalibrationOptions, bool, IProgress{StageProgress}?, CancellationToken, SlicedLayerSpill?)"/> on an opened checkpoint, with its tokenizer.</summary>
    public static (SlicedFfnLayer[] Layers, IReadOnlyList<LayerActivations>? Activations) Apply(PruningPlan plan, DecoderCheckpoint model,
        CalibrationOptions calibrationDefaults, bool keepActivations = false, IProgress<StageProgress>? progress = null, CancellationToken ct = default) =>
        Apply(plan, model.Prunable(model.Directory), calibrationDefaults, keepActivations, progress, ct);

    /// <summary>
    /// Re-derives the sliced layers of <paramref name="plan"/> streaming its recorded calibration (dense or
    /// sequential, as the plan says), so that compensation sees the activations the plan was made from.
    /// With <paramref name="keepActivations"/> every layer's activations are also returned (for reports).
    /// </summary>
    /// <param name="spill">When given, each layer goes to this scratch file as soon as it is cut (and advanced through).</param>
    public static (SlicedFfnLayer[] Layers, IReadOnlyList<LayerActivations>? Activations) Apply(PruningPlan plan, IPrunableDecoder model,
        CalibrationOptions calibrationDefaults, bool keepActivations = false, IProgress<StageProgress>? progress = null, CancellationToken ct = default,
        SlicedLayerSpill? spill = null)
    {
        var info = plan.Calibration ?? throw new MissingInputException("the plan records no calibration text, so its activations cannot be recaptured");
        if (!File.Exists(info.Text)) throw new MissingInputException($"the plan's calibration text '{info.Text}' does not exist");
        var options = calibrationDefaults.Reproducing(info);
        var sample = model.Sample(TextCorpus.Read(info.Text), info.Text, options);
        var compensation = CompensationOptions.FromInfo(plan.Compensation);
        using var stream = model.OpenStream(sample, new LayerStreamOptions { Threads = options.Threads, Cuda = options.Cuda });
        var source = model.Layers(null);
        int layers = model.Widths.Count;
        var sliced = new SlicedFfnLayer[layers];
        var kept = keepActivations ? new LayerActivations[layers] : null;
        for (int l = 0; l < layers; l++)
        {
            ct.ThrowIfCancellationRequested();
            var layer = source.Layer(l);
            var lp = plan.Layer(l) ?? new LayerPlan(l, Enumerable.Range(0, layer.Neurons).ToArray(), []);
            var activations = stream.Capture(l, advance: info.Capture == CaptureMode.Dense, Fraction(progress, "capture", l, layers), ct);
            if (kept != null) kept[l] = activations;
            var stats = lp.Removed.Count > 0 && compensation.Kind != CompensationKind.None ? new LayerStatistics(activations) : null;
            sliced[l] = Compensator.Apply(layer, lp, compensation, stats, ct);
            if (info.Capture == CaptureMode.Sequential) stream.Advance(l, sliced[l], ct);
            if (spill != null) sliced[l] = spill.Add(sliced[l]);
            progress?.Report(new StageProgress("slice", (l + 1.0) / layers));
            if (kept == null) ReleaseLayer();
        }
        return (sliced, kept);
    }

    /// <remarks>
    /// The plan's fingerprint hashes each layer's FFN weights as the loop reads them, not in a pass of its own before it:
    /// that pass read every FFN weight of the checkpoint once more (1.2 s in a traced 134M prune).
    /// </remarks>
    private static (PruningPlan, SlicedFfnLayer[]) LayerByLayer(IPrunableDecoder model, IDecoderLayerStream stream,
        PruningOptions options, CaptureMode mode, Dictionary<string, double> seconds, LayerActivations[]? kept, SlicedLayerSpill? spill,
        IProgress<StageProgress>? progress, CancellationToken ct)
    {
        var widths = model.Widths.ToArray();
        int layers = widths.Length, hidden = model.Shape.Hidden;
        var source = model.Layers(null);
        using var hasher = new FfnHasher();
        var selector = options.Selector;
        var lengths = options.Budget.OrderLengths(widths);
        // Compensation as ApplyPlan reads it back from the plan, so prune and apply cut with the same settings.
        var compensation = CompensationOptions.FromInfo(Pruner.ResolveCompensation(options).ToInfo());
        var orders = new IReadOnlyList<RemovedNeuron>[layers];
        var sliced = new SlicedFfnLayer[layers];
        var clock = new Stopwatch();
        for (int l = 0; l < layers; l++)
        {
            ct.ThrowIfCancellationRequested();
            clock.Restart();
            var activations = stream.Capture(l, advance: mode == CaptureMode.Dense, Fraction(progress, "capture", l, layers), ct);
            seconds["capture"] += clock.Elapsed.TotalSeconds;
            if (kept != null) kept[l] = activations;

            clock.Restart();
            var layer = source.Layer(l);
            if (layer.Neurons != widths[l] || layer.Hidden != hidden)
                throw new BadModelFileException($"layer {l}: N={layer.Neurons}, D={layer.Hidden} but the config says N={widths[l]}, D={hidden}");
            hasher.Append(layer);
            var inputs = new LayerInputs(layer, activations, selector.UsesInformation ? options.Estimator : null, options.Gram);
            orders[l] = Pruner.SelectOrder(selector, layer, inputs, lengths[l], options.Seed, null, ct);
            ReleaseLayer(); // the selector's N x N matrices, before the compensation allocates its own
            seconds["select"] += clock.Elapsed.TotalSeconds;

            clock.Restart();
            var lp = Pruner.LayerPlanOf(l, layer.Neurons, orders[l], lengths[l]); // uniform budget: each layer takes its whole order
            var stats = lp.Removed.Count > 0 && compensation.Kind != CompensationKind.None ? inputs.Statistics : null;
            sliced[l] = Compensator.Apply(layer, lp, compensation, stats, ct);
            seconds["slice"] += clock.Elapsed.TotalSeconds;

            if (mode == CaptureMode.Sequential)
            {
                clock.Restart();
                stream.Advance(l, sliced[l], ct);
                seconds["capture"] += clock.Elapsed.TotalSeconds;
            }
            if (spill != null)
            {
                clock.Restart();
                sliced[l] = spill.Add(sliced[l]);
                seconds["slice"] += clock.Elapsed.TotalSeconds;
            }
            progress?.Report(new StageProgress("select", (l + 1.0) / layers));
            if (kept == null) ReleaseLayer();
        }
        var fingerprint = new ModelFingerprint(model.Name, hidden, widths, hasher.Finish());
        var plan = Pruner.BuildPlan(fingerprint, options, orders, options.Seed);
        for (int l = 0; l < layers; l++)
            if (!plan.Layers[l].Kept.SequenceEqual(sliced[l].Kept))
                throw new InvalidOperationException($"layer {l}: the plan keeps other neurons than were cut"); // uniform budgets take whole orders
        return (plan, sliced);
    }

    /// <summary>
    /// A finished layer's weights, activations and statistics are garbage (large-object heap): collecting and compacting
    /// here keeps the peak near one layer's worth instead of whatever the collector's budget lets pile up. Milliseconds
    /// against a layer's seconds.
    /// </summary>
    private static void ReleaseLayer() => LargeGarbage.Collect();

    private static IProgress<double>? Fraction(IProgress<StageProgress>? progress, string stage, int layer, int layers) =>
        progress == null ? null : new SyncProgress<double>(f => progress.Report(new StageProgress(stage, (layer + f) / layers)));

    /// <summary>
    /// Activations for <see cref="Pruner"/> streamed on demand: asking for layer l runs the dense stream up to it
    /// (from the embeddings again when l is behind the stream).
    /// </summary>
    private sealed class StreamingLayerSource(ILayerSource layers, IDecoderLayerStream stream, Dictionary<string, double> seconds,
        LayerActivations[]? kept) : ILayerSource
    {
        public int LayerCount => layers.LayerCount;

        public FfnLayer Layer(int index) => layers.Layer(index);

        public LayerActivations Activations(int index, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            if (index < stream.Position) stream.Restart();
            LayerActivations? result = null;
            while (stream.Position <= index)
            {
                // The previous layer's weights, activations and statistics are large garbage by now (the pruner asks
                // for layers in order): without a collection several layers' worth pile up (measured at 1.1B with
                // mi-random-pairs: 3.5 GB peak against a 2.2 GB plan).
                if (kept == null) LargeGarbage.Collect();
                int l = stream.Position;
                result = stream.Capture(l, advance: true, null, ct);
                if (kept != null) kept[l] = result;
            }
            seconds["capture"] += clock.Elapsed.TotalSeconds;
            return result!;
        }
    }
}
