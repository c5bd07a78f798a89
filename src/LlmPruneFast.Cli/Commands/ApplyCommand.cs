using System.Diagnostics;
using CommandLine;
using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune apply</c>: re-derive a pruned model from a plan and the model it was made for.</summary>
[Verb("apply", HelpText = "Apply a pruning plan (pruning-plan.json) to the model it was made for: write the pruned checkpoint + model.onnx + plan to --out. " +
    "Compensation that needs activations recaptures them from the plan's recorded calibration text, S and seed.")]
public sealed class ApplyCommand : ICommand
{
    [Option("plan", Required = true, HelpText = "pruning-plan.json written by `llmprune prune`.")]
    public string Plan { get; set; } = "";

    [Option("model", Required = true, HelpText = "The checkpoint folder, llama2.c .bin (written out as a Hugging Face folder) or ONNX graph (model.onnx or its folder) " +
        "the plan was made for (checked by FFN weight hash).")]
    public string Model { get; set; } = "";

    [Option("tokenizer", HelpText = ModelInputFlags.TokenizerHelp)]
    public string? Tokenizer { get; set; }

    [Option("out", Required = true, HelpText = "Output folder (new or empty; appears only when complete).")]
    public string Out { get; set; } = "";

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads for a recapture (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("dtype", HelpText = CheckpointOutputFlags.DTypeHelp)]
    public string? DType { get; set; }

    [Option("max-shard-mb", HelpText = CheckpointOutputFlags.MaxShardHelp)]
    public double? MaxShardMb { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("json", HelpText = "End the output with one JSON object.")]
    public bool Json { get; set; }

    [Option("quiet", HelpText = "No progress bars.")]
    public bool Quiet { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        var total = Stopwatch.StartNew();
        var output = CheckpointOutputFlags.Options(DType, MaxShardMb);
        CommandFiles.RequireFile(Plan, "plan (--plan)");
        AtomicOutputFolder.CheckOutput(Out, Tokenizer == null ? [Model, Plan] : [Model, Plan, Tokenizer]);
        var plan = PlanJson.Load(Plan);
        var device = DeviceOption.Resolve(Device, Devices.DeviceStages.Onnx); // a recapture runs the model
        if (ModelFolder.IsGraph(Model))
        {
            ModelInputFlags.RejectTokenizer(Tokenizer, Model);
            return RunGraph(plan, device, total, cancellationToken);
        }
        using var source = ModelFolder.OpenCheckpoint(Model, Tokenizer);
        _ = source.Tokenizer; // a broken tokenizer is refused before the plan is checked against the model
        var bar = new ProgressBar(Quiet);
        var seconds = new Dictionary<string, double>();
        // Each cut layer goes to a scratch file beside the output until written, so memory does not grow with depth.
        using var spill = SlicedLayerSpill.Create(Path.GetDirectoryName(Path.GetFullPath(Out)) is { } parent && Directory.Exists(parent) ? parent : null);
        var layers = ModelPruner.Apply(plan, source,
            new CalibrationOptions { Threads = Threads, Cuda = device.OnnxCuda }, bar, cancellationToken, spill);
        seconds["slice"] = total.Elapsed.TotalSeconds;
        var clock = Stopwatch.StartNew();
        var (shape, files) = source.WritePruned(Out, plan, layers, cancellationToken, output);
        bar.Clear();
        seconds["write"] = clock.Elapsed.TotalSeconds;
        seconds["total"] = total.Elapsed.TotalSeconds;
        PruneSummary.Print(Console.Out, source.Shape, shape, plan, null, null, seconds);
        WrittenFilesPrinter.Print(Console.Out, Path.GetFullPath(Out), files);
        var devices = new Dictionary<string, string> { ["capture"] = ModelPruner.NeedsActivations(plan) ? device.Onnx : "none", ["slice"] = "cpu", ["write"] = "cpu" };
        if (Json) Console.WriteLine(PruneSummary.Json(source.Shape, shape, plan, null, seconds, Path.GetFullPath(Out), devices));
        return ExitCodes.Ok;
    }

    /// <summary>
    /// A plan made on a foreign ONNX graph: fingerprint checked, activations recaptured when the compensation needs
    /// them (as <c>prune</c> captured them), and the same slicer writes the same initializers.
    /// </summary>
    private int RunGraph(PruningPlan plan, Devices.ComputeDevice device, Stopwatch total, CancellationToken cancellationToken)
    {
        var target = ModelFolder.OpenGraph(Model);
        var bar = new ProgressBar(Quiet);
        var seconds = new Dictionary<string, double>();
        var layers = PrunablePipeline.Apply(target.Prunable, plan, target.ReadCalibration, target.Calibration(new CalibrationOptions { Threads = Threads, Cuda = device.OnnxCuda }), bar, cancellationToken);
        seconds["slice"] = total.Elapsed.TotalSeconds;
        var clock = Stopwatch.StartNew();
        var files = OnnxGraphSlicer.Write(Out, target.Graph, plan, layers, [Plan], cancellationToken);
        bar.Clear();
        seconds["write"] = clock.Elapsed.TotalSeconds;
        seconds["total"] = total.Elapsed.TotalSeconds;
        long before = target.Parameters, after = target.ParametersAfter(layers);
        var o = Console.Out;
        o.WriteLine($"model      {target.Graph.Path} ({target.Architecture})");
        o.WriteLine($"method     {plan.Method}, ratio {plan.Ratio:G4}, compensation {plan.Compensation.Kind}, seed {plan.Seed}");
        o.WriteLine($"{"parameters",-22}{before,14:N0}{after,14:N0}   ({100.0 * (before - after) / before:F1}% fewer)");
        for (int l = 0; l < layers.Length; l++)
            o.WriteLine($"{$"FFN width, block {l}",-22}{target.Graph.Blocks[l].Width,14}{layers[l].Width,14}");
        o.WriteLine("seconds    " + string.Join(", ", seconds.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        WrittenFilesPrinter.Print(o, Path.GetFullPath(Out), files);
        if (Json)
        {
            var json = PruneSummary.Fields(plan, before, after, target.Graph.Blocks.Select(b => b.Width).ToArray(), layers.Select(x => x.Width).ToArray());
            json["seconds"] = seconds;
            json["output"] = Path.GetFullPath(Out);
            o.WriteLine(System.Text.Json.JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }
}
