using System.Diagnostics;
using System.Globalization;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Study;

/// <summary>
/// A model folder (or llama2.c .bin) to study and, optionally, the provenance the caller states for it and, for a
/// llama2.c .bin, its tokenizer file (null: the one beside it).
/// </summary>
public sealed record StudyModelSpec(string Directory, string? Provenance = null, string? Tokenizer = null);

/// <summary>Everything a study needs, texts included (the CLI reads the files).</summary>
public sealed record StudySettings
{
    public required IReadOnlyList<StudyModelSpec> Models { get; init; }
    public required IReadOnlyList<string> Methods { get; init; }
    public required IReadOnlyList<double> Ratios { get; init; }
    /// <summary>Compensation settings: "none", "bias", "partner", "refit", or "default" (each method's own, as prune uses).</summary>
    public IReadOnlyList<string> Compensations { get; init; } = ["none"];
    public required string CalibrationText { get; init; }
    /// <summary>Where the calibration text comes from (recorded in plans and outputs).</summary>
    public required string CalibrationName { get; init; }
    public required string EvaluationText { get; init; }
    public required string EvaluationName { get; init; }
    /// <summary>First N evaluation paragraphs (decoders) or lines (encoders); null = all.</summary>
    public int? EvalParagraphs { get; init; }
    /// <summary>Encoders: labelled sentence pairs for STS before and after; null = none (fidelity only).</summary>
    public IReadOnlyList<StsPair>? StsPairs { get; init; }
    /// <summary>Where the pairs come from (recorded in outputs).</summary>
    public string? StsName { get; init; }
    public int Samples { get; init; } = CalibrationOptions.DefaultSamples;
    /// <summary>What a calibration sequence is, as <c>prune</c> (windows by default, or every paragraph).</summary>
    public CalibrationLayout Layout { get; init; } = CalibrationLayout.Windows;
    /// <summary>Seed of every random choice (position sample, random methods), as <c>prune --seed</c>.</summary>
    public long Seed { get; init; }
    /// <summary>ONNX Runtime intra-op threads (0 = one per processor).</summary>
    public int Threads { get; init; }
    public long MemoryBudgetBytes { get; init; } = CalibrationOptions.DefaultMemoryBudgetBytes;
    /// <summary>Where capture, MI estimation and evaluation run (resolved <c>--device</c>).</summary>
    public Devices.ComputeDevice Device { get; init; } = Devices.ComputeDevice.Cpu;

    /// <summary>The prune settings of one run, exactly as <c>llmprune prune</c> builds them from the same flags.</summary>
    public PruneSettings PruneSettings(string method, double ratio, string compensation) => new()
    {
        Method = method,
        EstimatorOptions = new Information.MiEstimatorOptions { Seed = unchecked((int)Seed) },
        Ratio = ratio,
        Compensation = compensation == StudyRunner.DefaultCompensation ? null : CompensationKinds.Parse(compensation),
        Seed = Seed,
        Calibration = new CalibrationOptions { Samples = Samples, Seed = Seed, Threads = Threads, MemoryBudgetBytes = MemoryBudgetBytes, Cuda = Device.OnnxCuda, Layout = Layout },
        Threads = Threads,
        Device = Device,
    };
}

/// <summary>Progress of a study: run <see cref="Run"/> of <see cref="Runs"/> (1-based; 0 = the model's capture and dense evaluation), its stage and fraction.</summary>
public readonly record struct StudyProgress(string Model, int Run, int Runs, string Stage, double Fraction);

/// <summary>
/// Runs every (model, method, ratio, compensation) combination through the prune pipeline and scores each pruned
/// model against its dense model by its family's measure. A model is a LLaMA checkpoint folder (the native path
/// below), or an ONNX graph folder, decoder or sentence encoder (the generic path, <see cref="GraphStudy"/>). For a
/// LLaMA checkpoint: <see cref="ModelPruner.Select"/> on activations from <see cref="CalibrationCapture"/>, then
/// the pruned model built in memory (or viewed, layer by layer), scored on the evaluation paragraphs. Per model, calibration is captured once per distinct capture setting (one, plus one with
/// held-out paragraphs when a multi-candidate method such as mi-random-pairs is asked for, exactly as prune would
/// capture) and reused by every method and ratio. Each variant is measured by the step <c>prune --eval</c> uses
/// (<see cref="DecoderComparison"/>, budget <see cref="StudySettings.MemoryBudgetBytes"/>): on the whole-model graphs
/// the dense model is evaluated once (<see cref="DenseReference"/>); layer by layer, once per variant alongside it.
/// Every row therefore equals what <c>llmprune prune</c> reports for the same flags.
/// </summary>
public static class StudyRunner
{
    /// <summary>The compensation setting meaning "each method's own default".</summary>
    public const string DefaultCompensation = "default";

    /// <summary>
    /// Checks every name, number and model of <paramref name="settings"/> before any work; returns each model's
    /// description. Unknown method or compensation, a ratio outside (0, 1) or one that would empty a layer,
    /// duplicates, no models: <see cref="BadArgumentException"/>; a missing model folder or file:
    /// <see cref="MissingInputException"/>; a malformed checkpoint or study-model.json: <see cref="BadModelFileException"/>.
    /// </summary>
    public static IReadOnlyList<StudyModel> Validate(StudySettings settings)
    {
        if (settings.Models.Count == 0) throw new BadArgumentException("--models names no model folder");
        if (settings.Methods.Count == 0) throw new BadArgumentException("--methods names no method");
        if (settings.Ratios.Count == 0) throw new BadArgumentException("--ratios names no ratio");
        if (settings.Compensations.Count == 0) throw new BadArgumentException("--compensate names no setting");
        Distinct(settings.Methods, "--methods");
        Distinct(settings.Compensations, "--compensate");
        Distinct(settings.Ratios.Select(r => r.ToString("R", CultureInfo.InvariantCulture)).ToArray(), "--ratios");
        foreach (var method in settings.Methods) PruningSelectors.Create(method);
        foreach (var ratio in settings.Ratios)
            if (!(ratio > 0 && ratio < 1)) throw new BadArgumentException($"--ratios: {ratio.ToString(CultureInfo.InvariantCulture)} is outside (0, 1)");
        foreach (var c in settings.Compensations)
            if (c != DefaultCompensation) CompensationKinds.Parse(c);
        if (settings.EvalParagraphs is <= 0) throw new BadArgumentException($"--eval-paragraphs must be positive, got {settings.EvalParagraphs}");
        if (settings.Samples < 2) throw new BadArgumentException($"--samples must be at least 2, got {settings.Samples}");

        var models = new List<StudyModel>();
        foreach (var spec in settings.Models)
        {
            var model = ModelFolder.IsGraph(spec.Directory) ? GraphStudy.Describe(spec, settings) : DescribeCheckpoint(spec, settings);
            if (models.FirstOrDefault(m => m.Name == model.Name) is { } twin)
                throw new BadArgumentException($"two models are named '{model.Name}' ('{twin.Directory}' and '{model.Directory}'); give one a name in its {StudyModelFile.FileName}");
            models.Add(model);
        }
        if (TextCorpus.Paragraphs(settings.EvaluationText, settings.EvalParagraphs).Count == 0)
            throw new BadArgumentException($"evaluation text '{settings.EvaluationName}' holds no paragraph");
        if (settings.StsPairs != null && models.All(m => m.Family != StudyFamily.Encoder))
            throw new BadArgumentException($"--sts applies to encoder models (a folder with model.onnx and vocab.txt), and every model of --models is a decoder " +
                $"({string.Join(", ", models.Select(m => $"'{m.Name}'"))}); leave --sts out or add an encoder");
        return models;
    }

    /// <summary>A LLaMA checkpoint folder described and every run's options checked; a folder that is neither family is refused here.</summary>
    private static StudyModel DescribeCheckpoint(StudyModelSpec spec, StudySettings settings)
    {
        if (Directory.Exists(spec.Directory) && !File.Exists(Path.Combine(spec.Directory, DecoderCheckpoint.ConfigFileName)))
            throw new MissingInputException($"model folder '{spec.Directory}' is neither a LLaMA checkpoint (no {DecoderCheckpoint.ConfigFileName}) nor an ONNX graph (no {OnnxGraphModel.ModelFileName}); " +
                $"study takes LLaMA checkpoint folders and ONNX graph folders (a decoder: model.onnx + tokenizer.model; a sentence encoder: model.onnx + vocab.txt)");
        using var checkpoint = ModelFolder.OpenCheckpoint(spec.Directory, spec.Tokenizer);
        var file = StudyModelFile.Read(checkpoint.Directory).WithStated(spec.Provenance, checkpoint.Directory);
        var model = StudyModel.Describe(checkpoint.Directory, checkpoint.Shape, file) with { Tokenizer = spec.Tokenizer };
        foreach (var method in settings.Methods)
            foreach (var ratio in settings.Ratios)
                foreach (var c in settings.Compensations)
                {
                    // A ratio that empties a layer fails in Options; one that removes nothing is refused as in prune.
                    var options = ModelPruner.Options(settings.PruneSettings(method, ratio, c), checkpoint);
                    options.Budget.RequireSomeRemoval(checkpoint.Shape.FfnWidths);
                }
        return model;
    }

    /// <summary>Runs the study (after <see cref="Validate"/>). Rows come in model, method, ratio, compensation order.</summary>
    public static StudyResult Run(StudySettings settings, IProgress<StudyProgress>? progress = null, CancellationToken ct = default)
    {
        var total = Stopwatch.StartNew();
        var described = Validate(settings);
        var paragraphs = TextCorpus.Paragraphs(settings.EvaluationText, settings.EvalParagraphs);
        int runsPerModel = settings.Methods.Count * settings.Ratios.Count * settings.Compensations.Count;
        var rows = new List<StudyRow>();
        var modelRuns = new List<StudyModelRun>();
        foreach (var model in described)
        {
            Action<int, string, double>? report = progress == null ? null
                : (run, stage, fraction) => progress.Report(new StudyProgress(model.Name, run, runsPerModel, stage, fraction));
            modelRuns.Add(model.Format == StudyFormat.Checkpoint
                ? RunCheckpoint(model, settings, paragraphs, rows, report, ct)
                : GraphStudy.Run(model, settings, paragraphs, rows, report, ct));
        }
        return new StudyResult
        {
            Request = new StudyRequest
            {
                Methods = settings.Methods,
                Ratios = settings.Ratios,
                Compensations = settings.Compensations,
                CalibrationText = settings.CalibrationName,
                EvaluationText = settings.EvaluationName,
                StsText = settings.StsName,
                EvalParagraphs = settings.EvalParagraphs,
                Samples = settings.Samples,
                Layout = settings.Layout,
                Seed = settings.Seed,
            },
            Models = modelRuns,
            Rows = rows,
            Sensitivity = Sensitivity.Compute(rows),
            Seconds = total.Elapsed.TotalSeconds,
        };
    }

    /// <summary>Every run of one LLaMA checkpoint (rows appended to <paramref name="rows"/>); its dense evaluation and captures.</summary>
    private static StudyModelRun RunCheckpoint(StudyModel model, StudySettings settings, IReadOnlyList<string> paragraphs, List<StudyRow> rows,
        Action<int, string, double>? report, CancellationToken ct)
    {
        using var checkpoint = ModelFolder.OpenCheckpoint(model.Directory, model.Tokenizer);
        var tokenizer = checkpoint.Tokenizer;

        var clock = Stopwatch.StartNew();
        // The measurement step prune uses, opened once per model: on the whole-model graphs the dense model is
        // evaluated now and its logits cached for every variant; layer by layer when the graphs would not fit.
        var measure = new MeasureOptions { BudgetBytes = settings.MemoryBudgetBytes, Threads = settings.Threads, Cuda = settings.Device.OnnxCuda };
        var evalPlan = DecoderComparison.Plan(checkpoint, paragraphs, measure);
        evalPlan.ThrowIfOverBudget();
        using var reference = DecoderComparison.Open(checkpoint.Weights, tokenizer, paragraphs, evalPlan, measure, DenseReference.DefaultCacheBudgetBytes,
            report == null ? null : new Relay<EvaluationProgress>(p => report!(0, "dense", (double)p.Done / Math.Max(1, p.Total))), ct);
        double denseSeconds = clock.Elapsed.TotalSeconds;
        var fingerprint = checkpoint.Fingerprint(model.Name);
        var captures = new Dictionary<CalibrationOptions, CalibrationSet>();
        double captureSeconds = 0;
        int run = 0;
        foreach (var method in settings.Methods)
            foreach (var ratio in settings.Ratios)
                foreach (var compensation in settings.Compensations)
                {
                    ct.ThrowIfCancellationRequested();
                    run++;
                    var prune = settings.PruneSettings(method, ratio, compensation);
                    var calibOptions = ModelPruner.CalibrationFor(prune);
                    if (!captures.TryGetValue(calibOptions, out var calibration))
                    {
                        clock.Restart();
                        calibration = checkpoint.Prunable(model.Name).Capture(settings.CalibrationText, settings.CalibrationName, calibOptions,
                            report == null ? null : new Relay<CaptureProgress>(p => report!(run, "capture", (double)p.Done / Math.Max(1, p.Total))), ct);
                        captures[calibOptions] = calibration;
                        captureSeconds += clock.Elapsed.TotalSeconds;
                    }
                    clock.Restart();
                    int current = run;
                    var outcome = ModelPruner.Select(checkpoint, fingerprint, calibration, prune,
                        report == null ? null : new Relay<StageProgress>(p => report!(current, p.Stage, p.Fraction)), ct);
                    var pruned = checkpoint.Pruned(outcome.Layers, view: reference.Path == EvaluationMode.Layers);
                    var evalProgress = report == null ? null : new Relay<EvaluationProgress>(p => report!(current, p.Stage, (double)p.Done / Math.Max(1, p.Total)));
                    var evaluation = reference.Measure(pruned, latency: false, evalProgress, ct).Evaluation!;
                    var (after, fidelity) = (evaluation.After, evaluation.Fidelity);
                    rows.Add(new StudyRow
                    {
                        Model = model,
                        Method = method,
                        Ratio = ratio,
                        CompensationSetting = compensation,
                        Compensation = outcome.Plan.Compensation.Kind,
                        PerplexityBefore = evaluation.Before.Perplexity,
                        PerplexityAfter = after.Perplexity,
                        Kl = fidelity.MeanKl,
                        Top1Agreement = fidelity.Top1Agreement,
                        ParamsBefore = model.Parameters,
                        ParamsAfter = checkpoint.PrunedShape(outcome.Layers).Parameters,
                        EvalTokens = after.Tokens,
                        Seconds = clock.Elapsed.TotalSeconds,
                    });
                    report?.Invoke(current, "done", 1);
                }
        var dense = reference.DensePerplexity!; // every model has at least one run (Validate)
        return new StudyModelRun(model, dense.Perplexity, dense.Tokens, paragraphs.Count,
            captures.Count, settings.Samples, captureSeconds, denseSeconds);
    }

    private static void Distinct(IReadOnlyList<string> values, string flag)
    {
        var twice = values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
        if (twice != null) throw new BadArgumentException($"{flag} names '{twice.Key}' twice");
    }

    /// <summary>Reports synchronously on the caller's thread (System.Progress would post to the thread pool).</summary>
    internal sealed class Relay<T>(Action<T> handler) : IProgress<T>
    {
        public void Report(T value) => handler(value);
    }
}
