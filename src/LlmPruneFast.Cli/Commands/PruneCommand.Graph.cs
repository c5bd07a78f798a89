using System.Diagnostics;
using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>prune</c> on a foreign ONNX graph: the generic path (FFN blocks found by pattern, sliced in place).</summary>
public sealed partial class PruneCommand
{
    private int RunGraph(PruneSettings settings, string[] inputs, string? planFile, Stopwatch total, CancellationToken cancellationToken)
    {
        var graph = OnnxGraphModel.Open(Model);
        var encoder = PrepareEncoderChecks(graph); // null for a decoder graph; inputs read and checked before any work
        if (encoder == null && (Eval != null || Sts != null))
            throw new BadArgumentException($"--{(Eval != null ? "eval" : "sts")} is not supported for a decoder ONNX graph ('{Model}') yet: prune without it, then run the pruned model.onnx");
        if (Report != null)
            throw new BadArgumentException($"--report is not supported for an ONNX graph model ('{Model}') yet: prune without it");
        graph.RequirePrunable();
        string calibration = encoder != null ? SentenceFile.AsParagraphs(SentenceFile.Read(Calib)) : TextCorpus.Read(Calib);
        if (encoder != null && settings.Calibration.MaxLength == 0)
            settings = settings with { Calibration = settings.Calibration with { MaxLength = encoder.Folder.MaxTokens } };
        var feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray());
        var widths = graph.Blocks.Select(b => b.Width).ToArray();
        PrunablePipeline.Options(settings, widths); // every name and the ratio checked before calibration
        var bar = new ProgressBar(Quiet);
        var outcome = PrunablePipeline.Run(new OnnxGraphPrunable(graph, feed, graph.Path), calibration, Path.GetFullPath(Calib), settings, bar, cancellationToken);
        bar.Clear();
        var seconds = new Dictionary<string, double>(outcome.StageSeconds);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> files = PlanOnly
            ? [WritePlanOnly(outcome.Plan, planFile!, inputs)]
            : OnnxGraphSlicer.Write(Out, graph, outcome.Plan, outcome.Layers, [Calib], cancellationToken);
        seconds["write"] = clock.Elapsed.TotalSeconds;
        seconds["total"] = total.Elapsed.TotalSeconds;

        long before = OnnxGraphModel.Parameters(graph.Model);
        long after = before - graph.Blocks.Zip(outcome.Layers).Sum(p => RemovedParameters(p.First, p.Second));
        var plan = outcome.Plan;
        var o = Console.Out;
        o.WriteLine($"model      {graph.Path} ({graph.Blocks.Count} FFN blocks, {string.Join(", ", graph.Blocks.Select(b => b.Activation).Distinct())})");
        o.WriteLine($"method     {plan.Method} ({plan.MethodParameters}){(plan.Estimator is { } e ? $", estimator {e.Name} ({e.Parameters})" : "")}");
        o.WriteLine($"budget     {plan.Budget.Kind}, ratio {plan.Ratio:G4}, compensation {plan.Compensation.Kind}, seed {plan.Seed}");
        var cal = outcome.Calibration;
        o.WriteLine($"calibration {cal.Samples} positions sampled from {cal.EligiblePositions} (leading special token and padding excluded) of {cal.Sequences} paragraphs of {cal.Info.Text}");
        o.WriteLine();
        o.WriteLine($"{"",-22}{"dense",14}{"pruned",14}");
        o.WriteLine($"{"parameters",-22}{before,14:N0}{after,14:N0}   ({100.0 * (before - after) / before:F1}% fewer)");
        for (int l = 0; l < graph.Blocks.Count; l++)
            o.WriteLine($"{$"FFN width, block {l}",-22}{graph.Blocks[l].Width,14}{outcome.Layers[l].Width,14}");
        o.WriteLine();
        o.WriteLine("seconds    " + string.Join(", ", seconds.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        if (PlanOnly) o.WriteLine($"plan       {files[0]}");
        else WrittenFilesPrinter.Print(o, Path.GetFullPath(Out), files);
        var measured = encoder != null && !PlanOnly ? MeasureEncoder(encoder, graph.Folder, Path.GetFullPath(Out), o, cancellationToken) : null;
        if (Json)
        {
            var json = PruneSummary.Fields(plan, before, after, graph.Blocks.Select(b => b.Width).ToArray(), outcome.Layers.Select(x => x.Width).ToArray());
            json["seconds"] = seconds;
            json["devices"] = PruneSummary.Devices(Resolved, plan, settings.EstimatorOptions, seconds.Keys.Append("eval"));
            json["output"] = PlanOnly ? files[0] : Path.GetFullPath(Out);
            foreach (var (key, value) in measured ?? []) json[key] = value;
            o.WriteLine(JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }

    /// <summary>Parameters a sliced block no longer has (a down bias added for compensation counts against it).</summary>
    private static long RemovedParameters(OnnxFfnBlock block, SlicedFfnLayer layer)
    {
        long removed = block.Width - layer.Width;
        long perNeuron = (long)block.Hidden * (block.Gated ? 3 : 2) + (block.GateBias != null ? 1 : 0) + (block.UpBias != null ? 1 : 0);
        return removed * perNeuron - (block.DownBias == null && layer.HasDownBias ? block.Hidden : 0);
    }
}
