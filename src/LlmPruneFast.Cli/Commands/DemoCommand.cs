using System.Text.Json;
using CommandLine;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune demo</c>: the main job on one model: dense evaluation and generation, then pruning by 30% with the
/// best MI method (calibrated on the first half of the text, evaluated on paragraphs of the second half) and dense
/// vs pruned side by side.
/// </summary>
[Verb("demo", HelpText = "Evaluate a model on the first 40 paragraphs of a text (reference protocol), generate from the reference prompt, " +
    "then prune it by --ratio with mi-conditional (calibration: first half of the text's bytes; evaluation: first --prune-paragraphs paragraphs of the second half), " +
    "write the pruned model to WORK/pruned and print dense vs pruned.")]
public sealed class DemoCommand : ICommand
{
    public const string ReferencePrompt = "Once upon a time, there was a dog named";

    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder, or a llama2.c .bin.")]
    public string Model { get; set; } = "";

    [Option("tokenizer", HelpText = ModelInputFlags.TokenizerHelp)]
    public string? Tokenizer { get; set; }

    [Option("text", Required = true, HelpText = "Evaluation text (blank-line-separated paragraphs).")]
    public string Text { get; set; } = "";

    [Option("work", Required = true, HelpText = "Folder for the demo's outputs (model.onnx, dense.json).")]
    public string Work { get; set; } = "";

    [Option("paragraphs", Default = 40, HelpText = "Paragraphs evaluated.")]
    public int Paragraphs { get; set; }

    [Option("steps", Default = 48, HelpText = "Tokens generated from the reference prompt.")]
    public int Steps { get; set; }

    [Option("ratio", Default = 0.3, HelpText = "Fraction of FFN neurons the pruning step removes.")]
    public double Ratio { get; set; }

    [Option("prune-paragraphs", Default = 60, HelpText = "Paragraphs of the second half the dense and pruned models are compared on.")]
    public int PruneParagraphs { get; set; }

    [Option("samples", Default = CalibrationOptions.DefaultSamples, HelpText = "Calibration token positions S.")]
    public int Samples { get; set; }

    [Option("no-prune", HelpText = "Stop after the dense evaluation.")]
    public bool NoPrune { get; set; }

    [Option("force", HelpText = "Use a non-empty --work folder the demo did not create (its model.onnx, dense.json and pruned/ are replaced).")]
    public bool Force { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    /// <summary>Marker file in a work folder the demo created; only such a folder's outputs are replaced without --force.</summary>
    public const string MarkerFileName = ".llmprune-demo";

    public int Run(CancellationToken cancellationToken)
    {
        string text = TextCorpus.Read(Text);
        var device = DeviceOption.Resolve(Device, Devices.DeviceStages.All);
        string work = PrepareWork(Work, [Model, Text, .. Tokenizer == null ? Array.Empty<string>() : [Tokenizer]], Force);
        using var model = RunnableDecoder.Open(Model, new OnnxRunnerOptions { UseCuda = device.OnnxCuda }, saveOnnxTo: work, tokenizer: Tokenizer);
        var c = model.Shape;
        Console.WriteLine($"model      {model.Directory}");
        Console.WriteLine($"           {c.Layers} layers, hidden {c.Hidden}, FFN {string.Join("/", c.FfnWidths.Distinct())}, " +
                          $"{c.Heads} heads ({c.KeyValueHeads} KV), vocab {c.Vocab}, {model.MaxLength} positions");
        Console.WriteLine($"onnx       {Path.Combine(work, "model.onnx")} ({string.Join("+", model.Providers)})");

        var progress = new ConsoleProgress();
        var paragraphs = TextCorpus.Paragraphs(text, Paragraphs);
        var ppl = new Perplexity(model.Runner).Paragraphs(model.Tokenizer, paragraphs, model.MaxLength, progress, cancellationToken);
        progress.Done();
        Console.WriteLine($"dense      mean NLL {ppl.MeanNll:F6} nats, perplexity {ppl.Perplexity:F4} on {ppl.Tokens} tokens of {ppl.Sequences} paragraphs ({ppl.Seconds:F2} s)");

        var (ids, continuation) = GenerateCommand.Continue(model, ReferencePrompt, Steps, cancellationToken);
        Console.WriteLine($"generate   \"{ReferencePrompt}\" ->{continuation.ReplaceLineEndings(" / ")}");

        var summary = new Dictionary<string, object>
        {
            ["model"] = model.Directory,
            ["text"] = Path.GetFullPath(Text),
            ["protocol"] = ppl.Protocol,
            ["dense"] = new Dictionary<string, object> { ["mean_nll"] = ppl.MeanNll, ["perplexity"] = ppl.Perplexity, ["tokens"] = ppl.Tokens, ["paragraphs"] = ppl.Sequences },
            ["prompt"] = ReferencePrompt,
            ["greedy_ids"] = ids,
            ["greedy_text"] = continuation,
            // ONNX Runtime runs evaluation, generation and capture; select is set after pruning (where its Gram ran).
            ["devices"] = new Dictionary<string, string> { ["eval"] = device.Onnx, ["generate"] = device.Onnx, ["capture"] = device.Onnx, ["select"] = "cpu" },
        };
        if (!NoPrune)
        {
            summary["pruned"] = Prune(model, work, device, cancellationToken);
            // mi-conditional's correlation Gram runs on the ILGPU CUDA kernels when estimation does.
            if (PruneSummary.GramRanOnCuda(device)) ((Dictionary<string, string>)summary["devices"])["select"] = "cuda";
        }
        string summaryPath = Path.Combine(work, "dense.json");
        File.WriteAllText(summaryPath + ".tmp", JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(summaryPath + ".tmp", summaryPath, overwrite: true);
        Console.WriteLine($"summary    {summaryPath}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Checks the work folder before any work: not an input, not inside or around one, and either new, empty, made by
    /// the demo (it holds <see cref="MarkerFileName"/>) or allowed with --force. Creates it and its marker.
    /// </summary>
    public static string PrepareWork(string workPath, string[] inputs, bool force)
    {
        if (string.IsNullOrWhiteSpace(workPath)) throw new BadArgumentException("--work is empty");
        string work = Path.TrimEndingDirectorySeparator(Path.GetFullPath(workPath));
        string resolved = AtomicOutputFolder.Normalize(workPath);
        foreach (var input in inputs.Select(AtomicOutputFolder.Normalize))
        {
            if (AtomicOutputFolder.PathEquals(resolved, input) || AtomicOutputFolder.IsInside(resolved, input) || AtomicOutputFolder.IsInside(input, resolved))
                throw new OutputConflictException($"--work '{work}' overlaps the input '{input}'; choose a folder apart from the model and the text");
        }
        if (File.Exists(resolved)) throw new OutputConflictException($"--work '{work}' is a file; expected a folder");
        bool ours = File.Exists(Path.Combine(resolved, MarkerFileName)) || IsEarlierDemo(resolved);
        if (Directory.Exists(resolved) && !ours && !force && Directory.EnumerateFileSystemEntries(resolved).Any())
            throw new OutputConflictException($"--work '{work}' is not empty and was not created by the demo; choose a new folder or add --force");
        Directory.CreateDirectory(work);
        if (!ours) File.WriteAllText(Path.Combine(work, MarkerFileName), "llmprune demo work folder: its outputs are replaced by the next demo run\n");
        return work;
    }

    /// <summary>A work folder of a demo run from before the marker existed: only its three outputs, dense.json among them.</summary>
    private static bool IsEarlierDemo(string folder)
    {
        string summary = Path.Combine(folder, "dense.json");
        if (!Directory.Exists(folder) || !File.Exists(summary) || new FileInfo(summary).Length > 1 << 20) return false;
        string[] own = ["model.onnx", "dense.json", "pruned"];
        return Directory.EnumerateFileSystemEntries(folder).All(e => own.Contains(Path.GetFileName(e)))
            && File.ReadAllText(summary).Contains("\"greedy_ids\"", StringComparison.Ordinal);
    }

    /// <summary>The pruning half of the demo; returns its figures for the summary file.</summary>
    private Dictionary<string, object> Prune(RunnableDecoder dense, string work, Devices.ComputeDevice device, CancellationToken ct)
    {
        const string Method = "mi-conditional"; // the best MI method on stories260K by held-out calibration KL (perf/RESULTS.md, prune-table)
        var (calibration, evaluation) = CorpusSplit.Halves(Text);
        string pruned = Path.Combine(work, "pruned");
        if (Directory.Exists(pruned)) Directory.Delete(pruned, recursive: true); // the demo's own output of a previous run (PrepareWork checked)
        using var source = ModelFolder.OpenCheckpoint(Model, Tokenizer);
        var bar = new ProgressBar();
        var settings = new PruneSettings { Method = Method, Ratio = Ratio, Calibration = new CalibrationOptions { Samples = Samples, Cuda = device.OnnxCuda }, Device = device };
        var outcome = ModelPruner.Run(source, calibration,
            $"{Path.GetFullPath(Text)} (first half of its bytes)", settings, bar, ct);
        var (shape, _) = source.WritePruned(pruned, outcome.Plan, outcome.Layers, ct);
        bar.Clear();
        // Dense vs pruned as prune --eval measures them: the whole-model graphs (the dense one is already open) when both
        // fit in memory, else layer by layer, untimed.
        var paragraphs = TextCorpus.Paragraphs(evaluation, PruneParagraphs);
        var measure = new MeasureOptions { BudgetBytes = MeasureOptions.DefaultBudgetBytes(), Cuda = device.OnnxCuda };
        using var written = ModelFolder.OpenCheckpoint(pruned);
        var measured = DecoderComparison.Run(source.WeightsWith(dense.Runner),
            written.WrittenWeights, dense.Tokenizer, paragraphs,
            DecoderComparison.Plan(source, paragraphs, measure), measure, latency: true, bar, ct);
        bar.Clear();
        var result = measured.Evaluation!;
        long pb = source.Shape.Parameters, pa = shape.Parameters;
        Console.WriteLine();
        string about = outcome.Plan.Estimator is { } est ? $"{est.Name} {est.Parameters}" : outcome.Plan.MethodParameters.ToString();
        Console.WriteLine($"prune      {Method} ({about}), {Ratio:P0} of FFN neurons, compensation {outcome.Plan.Compensation.Kind}, " +
                          $"calibration {outcome.Calibration.Samples} positions in {PruneSummary.SequencesOf(outcome.Calibration.Info, outcome.Calibration.Sequences)} of the first half ({outcome.Calibration.TokensRun} tokens run); evaluation: first {paragraphs.Count} paragraphs of the second half");
        Console.WriteLine($"{"",-18}{"dense",12}{"pruned",12}");
        Console.WriteLine($"{"parameters",-18}{pb,12:N0}{pa,12:N0}");
        Console.WriteLine($"{"FFN widths",-18}{string.Join("/", source.Shape.FfnWidths.Distinct()),12}{string.Join("/", shape.FfnWidths.Distinct()),12}");
        Console.WriteLine($"{"perplexity",-18}{result.Before.Perplexity,12:F4}{result.After.Perplexity,12:F4}");
        Console.WriteLine($"{"KL(dense||pruned)",-18}{"",12}{result.Fidelity.MeanKl,12:F4}");
        Console.WriteLine($"{"top-1 agreement",-18}{"",12}{result.Fidelity.Top1Agreement,12:P1}");
        if (measured.Latency is var (a, b))
            Console.WriteLine($"{"latency 1x128",-18}{a.MedianMs,9:F2} ms{b.MedianMs,9:F2} ms   (median of 20 forward passes each, interleaved, same process)");
        else Console.WriteLine($"{"latency 1x128",-18}   not timed (evaluated layer by layer: the whole-model graphs would not fit in memory)");
        Console.WriteLine($"pruned     {pruned}");
        var figures = new Dictionary<string, object>
        {
            ["method"] = Method, ["ratio"] = Ratio, ["folder"] = pruned, ["params_before"] = pb, ["params_after"] = pa,
            ["perplexity_before"] = result.Before.Perplexity, ["perplexity_after"] = result.After.Perplexity,
            ["kl"] = result.Fidelity.MeanKl, ["top1_agreement"] = result.Fidelity.Top1Agreement,
        };
        if (measured.Latency is var (ld, lp)) (figures["latency_ms_dense"], figures["latency_ms_pruned"]) = (ld.MedianMs, lp.MedianMs);
        return figures;
    }
}
