using CommandLine;
using LlmPruneFast.Capture;
using LlmPruneFast.Devices;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune report</c>: the one-file HTML report of a pruning plan, and its JSON beside it. The plan names the
/// model and calibration it was made from; the command reopens the model (checked by FFN weight hash), recaptures
/// the calibration activations for the MI charts and, with <c>--eval</c>, slices the plan and measures dense vs
/// pruned (perplexity, KL, top-1, latency). <c>--report-data</c> renders report JSON written earlier instead.
/// </summary>
[Verb("report", HelpText = "Write a self-contained HTML report (and FILE.json beside it) of a pruning plan: recaptures the plan's calibration " +
    "activations for the MI charts; with --eval also dense vs pruned perplexity, KL and latency. Example: llmprune report --plan out/pruning-plan.json --eval eval.txt --out report.html")]
public sealed class ReportCommand : ICommand
{
    [Option("plan", Required = true, HelpText = "Pruning plan JSON (pruning-plan.json).")]
    public string Plan { get; set; } = "";

    [Option("model", HelpText = "The checkpoint folder, llama2.c .bin or ONNX graph (model.onnx or its folder) the plan was made for (default: the model the plan records).")]
    public string? Model { get; set; }

    [Option("tokenizer", HelpText = ModelInputFlags.TokenizerHelp)]
    public string? Tokenizer { get; set; }

    [Option("eval", HelpText = "Evaluation text: dense vs pruned perplexity, KL and top-1 agreement (reference protocol), and latency; for an encoder, sentences (one per line) for embedding fidelity.")]
    public string? Eval { get; set; }

    [Option("eval-paragraphs", HelpText = "Evaluate on the first N paragraphs of --eval (default: all).")]
    public int? EvalParagraphs { get; set; }

    [Option("sts", HelpText = "Encoders: STS pair file (GLUE STS-B tsv or SentEval csv): Spearman x 100 dense and pruned, and latency; fidelity on its sentences unless --eval is given.")]
    public string? Sts { get; set; }

    [Option("report-data", HelpText = "Render report JSON written earlier (by prune --report or report) instead of recomputing; checked against the plan.")]
    public string? ReportData { get; set; }

    [Option("out", Required = true, HelpText = "Report file FILE.html; FILE.json is written beside it.")]
    public string Out { get; set; } = "";

    [Option("embed-json", HelpText = "Also embed the report JSON in the page (hidden <pre id=\"report-data\">).")]
    public bool EmbedJson { get; set; }

    [Option("eval-stream", Default = "auto", HelpText = "Decoder checkpoints: how --eval runs dense and pruned, as in prune: auto (the whole-model graphs when both fit --memory-mb, " +
        "else layer by layer), layers (one decoder layer at a time, each model run once; no latency) or whole.")]
    public string EvalStream { get; set; } = "auto";

    [Option("memory-mb", HelpText = "Decoder checkpoints: memory budget of --eval in MiB (default: 80% of physical memory); over it the evaluation is refused (exit 7).")]
    public int? MemoryMiB { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("quiet", HelpText = "No progress bars.")]
    public bool Quiet { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        if (!Out.EndsWith(".html", StringComparison.OrdinalIgnoreCase) && !Out.EndsWith(".htm", StringComparison.OrdinalIgnoreCase))
            throw new BadArgumentException($"--out '{Out}' must name an .html file (the JSON goes beside it)");
        if (EvalParagraphs is <= 0) throw new BadArgumentException($"--eval-paragraphs must be positive, got {EvalParagraphs}");
        if (EvalParagraphs != null && Eval == null) throw new BadArgumentException("--eval-paragraphs needs --eval FILE");
        var evalMode = EvalCommand.ParseStream(EvalStream, "--eval-stream");
        if (EvalStream != "auto" && Eval == null) throw new BadArgumentException("--eval-stream needs --eval FILE");
        if (MemoryMiB <= 0) throw new BadArgumentException($"--memory-mb must be positive, got {MemoryMiB}");
        if (MemoryMiB != null && Eval == null) throw new BadArgumentException("--memory-mb bounds the --eval measurement; it needs --eval FILE");
        if (ReportData != null && (Eval != null || Sts != null)) throw new BadArgumentException($"--{(Eval != null ? "eval" : "sts")} recomputes the report; it cannot be combined with --report-data");
        if (Eval != null) CommandFiles.RequireFile(Eval, "evaluation text (--eval)");
        if (Sts != null) CommandFiles.RequireFile(Sts, "STS pair file (--sts)");
        var plan = PlanJson.Load(Plan);
        string model = Model ?? plan.Model.Name;
        ReportWriter.CheckTargets(Out, new OutputFiles(Plan, model, Eval, Sts, ReportData, Tokenizer)); // before any work
        bool graph = ReportData == null && ModelFolder.IsGraph(model);
        if (graph) ModelInputFlags.RejectTokenizer(Tokenizer, model);
        if (graph && (EvalStream != "auto" || MemoryMiB != null))
            throw new BadArgumentException($"--{(EvalStream != "auto" ? "eval-stream" : "memory-mb")} applies to LLaMA checkpoints; '{model}' is an ONNX graph, evaluated whole");
        if (!graph && ReportData == null && Sts != null)
            throw new BadArgumentException($"--sts applies to encoder models (a folder with model.onnx and vocab.txt); '{model}' is a decoder checkpoint");
        var device = ReportData != null ? ComputeDevice.Cpu : DeviceOption.Resolve(Device, DeviceStages.Onnx);
        var report = ReportData != null ? Matching(ReportJson.Load(ReportData), plan)
            : graph ? RecomputeGraph(plan, model, device, cancellationToken)
            : Recompute(plan, device, evalMode, MemoryMiB is int mb ? (long)mb << 20 : MeasureOptions.DefaultBudgetBytes(), cancellationToken);
        string json = ReportWriter.Write(report, Out, EmbedJson);
        string html = Path.GetFullPath(Out);
        WrittenFilesPrinter.Print(Console.Out, Path.GetDirectoryName(html) ?? ".", [html, json]);
        return ExitCodes.Ok;
    }

    /// <summary>Reopens the plan's model, recaptures its calibration activations and, with --eval, measures dense vs pruned.</summary>
    private PruneReport Recompute(PruningPlan plan, ComputeDevice device, EvaluationMode evalMode, long budget, CancellationToken ct)
    {
        using var source = ModelFolder.OpenCheckpoint(Model ?? plan.Model.Name, Tokenizer);
        plan.EnsureMatches(source.Fingerprint(plan.Model.Name));
        _ = source.Tokenizer; // read after the plan is checked against the model
        // Dense vs pruned as prune --eval measures them: the whole-model graphs when both fit --memory-mb, else layer by
        // layer; planned before any work, so an evaluation over the budget is refused up front (exit 7).
        var measure = new MeasureOptions { Mode = evalMode, BudgetBytes = budget, Threads = Threads, Cuda = device.OnnxCuda };
        var paragraphs = Eval == null ? null : TextCorpus.Paragraphs(TextCorpus.Read(Eval), EvalParagraphs);
        var evalPlan = paragraphs == null ? null : DecoderComparison.Plan(source, paragraphs, measure);
        evalPlan?.ThrowIfOverBudget();
        var bar = new ProgressBar(Quiet);
        var seconds = new Dictionary<string, double>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // A sequential plan's activations come from its own pruned layers upstream: stream them as prune did.
        IReadOnlyList<LayerActivations> activations;
        SlicedFfnLayer[]? sequentialLayers = null;
        if (plan.Calibration?.Capture == CaptureMode.Sequential)
        {
            var (layers, kept) = StreamingPruner.Apply(plan, source, new() { Threads = Threads, Cuda = device.OnnxCuda }, keepActivations: true, bar, ct);
            (sequentialLayers, activations) = (layers, kept!);
        }
        else activations = ModelPruner.Recapture(plan, source, new() { Threads = Threads, Cuda = device.OnnxCuda }, bar, ct).Layers;
        bar.Clear();
        seconds["capture"] = clock.Elapsed.TotalSeconds;
        // The report's own MI charts are estimated on the CPU.
        var measurements = new ReportMeasurements { StageSeconds = seconds, StageDevices = StageDevices(device) };
        if (paragraphs != null && evalPlan != null)
        {
            var layers = sequentialLayers ?? Pruner.ApplyPlan(plan, source.Layers(activations), null, ct).ToArray();
            bool streamed = evalPlan.Path == EvaluationMode.Layers;
            var measured = DecoderComparison.Run(source.Weights, source.Pruned(layers, view: streamed), source.Tokenizer,
                paragraphs, evalPlan, measure, latency: !streamed, bar, ct);
            bar.Clear();
            foreach (var (stage, s) in measured.Seconds) seconds[stage] = s;
            if (streamed) Console.Error.WriteLine("note: the report has no latency: the whole-model graphs it times would not fit --memory-mb (evaluated layer by layer)");
            var (evaluation, latency) = (measured.Evaluation, measured.Latency);
            measurements = measurements with
            {
                Parameters = new BeforeAfter(source.Shape.Parameters, source.PrunedShape(layers).Parameters), Evaluation = evaluation, EvaluationText = Path.GetFullPath(Eval!),
                EvaluationParagraphs = EvalParagraphs, Latency = latency,
            };
        }
        clock.Restart();
        var report = PruneReportFactory.Create(plan, activations, measurements, null, ct);
        seconds["report"] = clock.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>
    /// <see cref="Recompute"/> for a foreign ONNX graph: the plan's fingerprint checked against the graph, its
    /// activations recaptured, and with --eval/--sts the plan sliced into a temporary folder and measured dense vs
    /// pruned (perplexity and KL for a decoder, fidelity and STS for an encoder, and latency).
    /// </summary>
    private PruneReport RecomputeGraph(PruningPlan plan, string model, ComputeDevice device, CancellationToken ct)
    {
        var target = ModelFolder.OpenGraph(model);
        var prunable = target.Prunable;
        plan.EnsureMatches(prunable.Fingerprint());
        var checks = GraphChecks.Read(target, Eval, EvalParagraphs, Sts, latency: Eval != null || Sts != null);
        var bar = new ProgressBar(Quiet);
        var seconds = new Dictionary<string, double>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var calibration = PrunablePipeline.Recapture(prunable, plan, target.ReadCalibration, target.Calibration(new() { Threads = Threads, Cuda = device.OnnxCuda }), bar, ct);
        bar.Clear();
        seconds["capture"] = clock.Elapsed.TotalSeconds;
        var measurements = new ReportMeasurements
        {
            Architecture = target.Architecture, Encoder = target.Encoder != null, StageSeconds = seconds,
            StageDevices = StageDevices(device),
        };
        if (checks.Any)
        {
            clock.Restart();
            var layers = Pruner.ApplyPlan(plan, prunable.Layers(calibration.Layers), null, ct).ToArray();
            string scratch = Path.Combine(Path.GetTempPath(), $"llmprune-report-{Environment.ProcessId}-{Guid.NewGuid():N}");
            try
            {
                OnnxGraphSlicer.Write(scratch, target.Graph, plan, layers, [Plan], ct);
                seconds["slice"] = clock.Elapsed.TotalSeconds;
                var measured = GraphMeasurement.Run(target, scratch, checks, Threads, bar, ct, device.OnnxCuda);
                bar.Clear();
                foreach (var (stage, s) in measured.Seconds) seconds[stage] = s;
                measurements = measured.AddTo(measurements) with
                {
                    Parameters = new BeforeAfter(target.Parameters, target.ParametersAfter(layers)),
                    Bytes = new BeforeAfter(target.WeightBytes(), target.WeightBytes(scratch)),
                };
            }
            finally
            {
                if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
            }
        }
        clock.Restart();
        var report = PruneReportFactory.Create(plan, calibration.Layers, measurements, null, ct);
        seconds["report"] = clock.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>Where each stage of a recomputed report runs: the model runs on the resolved ONNX Runtime device; slicing and the report's own MI charts on the CPU.</summary>
    private static Dictionary<string, string> StageDevices(ComputeDevice device) => new()
    {
        ["capture"] = device.Onnx, ["slice"] = "cpu", ["eval"] = device.Onnx, ["latency"] = device.Onnx, ["report"] = "cpu",
    };

    /// <summary>The report data, after checking it describes this plan (model, method, per-layer counts).</summary>
    private PruneReport Matching(PruneReport report, PruningPlan plan)
    {
        string Where() => $"--report-data '{ReportData}' does not belong to --plan '{Plan}'";
        if (report.Summary.Model != plan.Model.Name) throw new BadArgumentException($"{Where()}: model '{report.Summary.Model}' vs '{plan.Model.Name}'");
        if (report.Summary.Method != plan.Method) throw new BadArgumentException($"{Where()}: method '{report.Summary.Method}' vs '{plan.Method}'");
        if (report.Layers.Count != plan.Model.Layers) throw new BadArgumentException($"{Where()}: {report.Layers.Count} layers vs {plan.Model.Layers}");
        foreach (var l in report.Layers)
        {
            var lp = plan.Layer(l.Index);
            int removed = lp?.Removed.Count ?? 0;
            if (l.Removed != removed || l.Width != plan.Model.Widths[l.Index])
                throw new BadArgumentException($"{Where()}: layer {l.Index} removes {l.Removed} of {l.Width} in the data, {removed} of {plan.Model.Widths[l.Index]} in the plan");
        }
        return report;
    }
}
