using LlmPruneFast.Models.OnnxGraph;
using System.Diagnostics;
using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>prune</c> on a foreign ONNX graph: the generic path (FFN blocks found by pattern, sliced in place).</summary>
public sealed partial class PruneCommand
{
    private int RunGraph(PruneSettings settings, string[] inputs, string? planFile, Stopwatch total, CancellationToken cancellationToken)
    {
        var target = ModelFolder.OpenGraph(Model);
        var graph = target.Graph;
        if (PlanOnly && (Eval != null || Sts != null))
            throw new BadArgumentException("--eval and --sts measure the pruned model, which --plan-only does not write; leave them out");
        var checks = GraphChecks.Read(target, Eval, EvalParagraphs, Sts, latency: Report != null && !PlanOnly); // inputs read and checked before any work
        string calibration = target.ReadCalibration(Calib);
        settings = settings with { Calibration = target.Calibration(settings.Calibration) };
        PrunablePipeline.Options(settings, graph.Blocks.Select(b => b.Width).ToArray()); // every name and the ratio checked before calibration
        if (Estimator != null && !PruningSelectors.Create(settings.Method, settings.MethodParameters).UsesInformation) // never drop a flag silently
            throw new BadArgumentException($"--estimator {Estimator} has no effect with --method {Method}, which does not use a pairwise MI estimator; leave it out or choose an mi-* method that does");
        var bar = new ProgressBar(Quiet);
        var outcome = PrunablePipeline.Run(target.Prunable, calibration, Path.GetFullPath(Calib), settings, bar, cancellationToken);
        bar.Clear();
        var seconds = new Dictionary<string, double>(outcome.StageSeconds);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> files = PlanOnly
            ? [WritePlanOnly(outcome.Plan, planFile!, inputs)]
            : OnnxGraphSlicer.Write(Out, graph, outcome.Plan, outcome.Layers, [Calib], cancellationToken);
        seconds["write"] = clock.Elapsed.TotalSeconds;

        long before = target.Parameters, after = target.ParametersAfter(outcome.Layers);
        GraphMeasurement? measured = null;
        if (!PlanOnly && checks.Any)
        {
            measured = GraphMeasurement.Run(target, Path.GetFullPath(Out), checks, Threads, bar, cancellationToken, Resolved.OnnxCuda);
            bar.Clear();
            foreach (var (stage, s) in measured.Seconds) seconds[stage] = s;
        }
        string[] reportFiles = [];
        if (Report != null)
        {
            clock.Restart();
            var measurements = new ReportMeasurements
            {
                Parameters = new BeforeAfter(before, after),
                Architecture = target.Architecture,
                Encoder = target.Encoder != null,
                Bytes = PlanOnly ? null : new BeforeAfter(target.WeightBytes(), target.WeightBytes(Path.GetFullPath(Out))),
                StageSeconds = seconds,
                StageDevices = PruneSummary.Devices(Resolved, outcome.Plan, settings.EstimatorOptions, seconds.Keys),
            };
            var report = PruneReportFactory.Create(outcome.Plan, outcome.Calibration.Layers, measured?.AddTo(measurements) ?? measurements, null, cancellationToken);
            reportFiles = [Path.GetFullPath(Report), ReportWriter.Write(report, Report)];
            seconds["report"] = clock.Elapsed.TotalSeconds;
        }
        seconds["total"] = total.Elapsed.TotalSeconds;

        var plan = outcome.Plan;
        var o = Console.Out;
        o.WriteLine($"model      {graph.Path} ({target.Architecture})");
        o.WriteLine($"method     {plan.Method} ({plan.MethodParameters}){(plan.Estimator is { } e ? $", estimator {e.Name} ({e.Parameters})" : "")}");
        o.WriteLine($"budget     {plan.Budget.Kind}, ratio {plan.Ratio:G4}, compensation {plan.Compensation.Kind}, seed {plan.Seed}");
        var cal = outcome.Calibration;
        o.WriteLine($"calibration {cal.Samples} positions sampled from {cal.EligiblePositions} (leading special token and padding excluded) of {PruneSummary.SequencesOf(cal.Info, cal.Sequences)} of {cal.Info.Text}, capture of {cal.TokensRun} tokens");
        o.WriteLine();
        o.WriteLine($"{"",-22}{"dense",14}{"pruned",14}");
        o.WriteLine($"{"parameters",-22}{before,14:N0}{after,14:N0}   ({100.0 * (before - after) / before:F1}% fewer)");
        for (int l = 0; l < graph.Blocks.Count; l++)
            o.WriteLine($"{$"FFN width, block {l}",-22}{graph.Blocks[l].Width,14}{outcome.Layers[l].Width,14}");
        measured?.Print(o);
        o.WriteLine();
        o.WriteLine("seconds    " + string.Join(", ", seconds.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        if (PlanOnly) o.WriteLine($"plan       {files[0]}");
        else WrittenFilesPrinter.Print(o, Path.GetFullPath(Out), files);
        foreach (var f in reportFiles) o.WriteLine($"report     {f}");
        if (Json)
        {
            var json = PruneSummary.Fields(plan, before, after, graph.Blocks.Select(b => b.Width).ToArray(), outcome.Layers.Select(x => x.Width).ToArray());
            measured?.AddJson(json);
            json["seconds"] = seconds;
            json["devices"] = PruneSummary.Devices(Resolved, plan, settings.EstimatorOptions, seconds.Keys);
            json["output"] = PlanOnly ? files[0] : Path.GetFullPath(Out);
            o.WriteLine(JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }
}
