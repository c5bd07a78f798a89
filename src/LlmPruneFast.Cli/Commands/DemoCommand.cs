using System.Diagnostics;
using System.Text.Json;
using CommandLine;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune demo</c>: the main job on one model: dense evaluation and generation, then pruning by 30% with the
/// best MI method (calibrated on the first half of the text, evaluated on paragraphs of the second half) and dense
/// vs pruned side by side.
/// </summary>
[Verb("demo", HelpText = "Evaluate a model on the first 40 paragraphs of a text (reference protocol), generate from the reference prompt, " +
    "then prune it by --ratio with mi-weighted (calibration: first half of the text's bytes; evaluation: first --prune-paragraphs paragraphs of the second half), " +
    "write the pruned model to WORK/pruned and print dense vs pruned.")]
public sealed class DemoCommand : ICommand
{
    public const string ReferencePrompt = "Once upon a time, there was a dog named";

    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder.")]
    public string Model { get; set; } = "";

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

    public int Run(CancellationToken cancellationToken)
    {
        string text = TextCorpus.Read(Text);
        string work = Path.GetFullPath(Work);
        Directory.CreateDirectory(work);
        using var model = LlamaOnnxModel.Open(Model, saveOnnxTo: work);
        var c = model.Config;
        Console.WriteLine($"model      {model.Directory}");
        Console.WriteLine($"           {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, FFN {string.Join("/", Enumerable.Range(0, c.NumHiddenLayers).Select(c.FfnWidth).Distinct())}, " +
                          $"{c.NumAttentionHeads} heads ({c.NumKeyValueHeads} KV), vocab {c.VocabSize}, {c.MaxPositionEmbeddings} positions");
        Console.WriteLine($"onnx       {Path.Combine(work, "model.onnx")} ({string.Join("+", model.Runner.Providers)})");

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
        };
        if (!NoPrune) summary["pruned"] = Prune(model, work, cancellationToken);
        string summaryPath = Path.Combine(work, "dense.json");
        File.WriteAllText(summaryPath + ".tmp", JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(summaryPath + ".tmp", summaryPath, overwrite: true);
        Console.WriteLine($"summary    {summaryPath}");
        return ExitCodes.Ok;
    }

    /// <summary>The pruning half of the demo; returns its figures for the summary file.</summary>
    private Dictionary<string, object> Prune(LlamaOnnxModel dense, string work, CancellationToken ct)
    {
        const string Method = "mi-weighted"; // the best MI method on stories260K (perf/RESULTS.md, prune-table)
        var (calibration, evaluation) = CorpusSplit.Halves(Text);
        string pruned = Path.Combine(work, "pruned");
        if (Directory.Exists(pruned)) Directory.Delete(pruned, recursive: true); // the demo's own output of a previous run
        using var source = LlamaCheckpoint.Open(Model);
        var bar = new ProgressBar();
        var settings = new PruneSettings { Method = Method, Ratio = Ratio, Calibration = new CalibrationOptions { Samples = Samples } };
        var outcome = ModelPruner.Run(source.Config, source.Tensors, source.Directory, dense.Tokenizer, calibration,
            $"{Path.GetFullPath(Text)} (first half of its bytes)", settings, bar, ct);
        var (config, _) = PrunedCheckpointWriter.Write(pruned, source, outcome.Plan, outcome.Layers, ct);
        bar.Clear();
        using var runner = OnnxLlamaRunner.Create(Path.Combine(pruned, "model.onnx"));
        var paragraphs = TextCorpus.Paragraphs(evaluation, PruneParagraphs);
        var result = ModelPruner.Evaluate(dense.Runner, runner, dense.Tokenizer, paragraphs, dense.MaxLength, bar, ct);
        bar.Clear();
        double latencyDense = Latency(dense.Runner), latencyPruned = Latency(runner);
        long pb = PrunedModel.Parameters(source.Config), pa = PrunedModel.Parameters(config);
        Console.WriteLine();
        Console.WriteLine($"prune      {Method} ({outcome.Plan.Estimator?.Name} {outcome.Plan.Estimator?.Parameters}), {Ratio:P0} of FFN neurons, compensation {outcome.Plan.Compensation.Kind}, " +
                          $"calibration {outcome.Calibration.Samples} positions of the first half; evaluation: first {paragraphs.Count} paragraphs of the second half");
        Console.WriteLine($"{"",-18}{"dense",12}{"pruned",12}");
        Console.WriteLine($"{"parameters",-18}{pb,12:N0}{pa,12:N0}");
        Console.WriteLine($"{"FFN widths",-18}{string.Join("/", Enumerable.Range(0, source.Config.NumHiddenLayers).Select(source.Config.FfnWidth).Distinct()),12}{string.Join("/", Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnWidth).Distinct()),12}");
        Console.WriteLine($"{"perplexity",-18}{result.Before.Perplexity,12:F4}{result.After.Perplexity,12:F4}");
        Console.WriteLine($"{"KL(dense||pruned)",-18}{"",12}{result.Fidelity.MeanKl,12:F4}");
        Console.WriteLine($"{"top-1 agreement",-18}{"",12}{result.Fidelity.Top1Agreement,12:P1}");
        Console.WriteLine($"{"latency 1x128",-18}{latencyDense,9:F2} ms{latencyPruned,9:F2} ms   (median of 20 forward passes, same process)");
        Console.WriteLine($"pruned     {pruned}");
        return new Dictionary<string, object>
        {
            ["method"] = Method, ["ratio"] = Ratio, ["folder"] = pruned, ["params_before"] = pb, ["params_after"] = pa,
            ["perplexity_before"] = result.Before.Perplexity, ["perplexity_after"] = result.After.Perplexity,
            ["kl"] = result.Fidelity.MeanKl, ["top1_agreement"] = result.Fidelity.Top1Agreement,
            ["latency_ms_dense"] = latencyDense, ["latency_ms_pruned"] = latencyPruned,
        };
    }

    /// <summary>Median milliseconds of one forward pass over 1 x 128 tokens (3 warm-up runs, 20 timed).</summary>
    private static double Latency(OnnxLlamaRunner runner)
    {
        int seq = Math.Min(128, runner.MaxPositions);
        var ids = Enumerable.Range(0, seq).Select(i => (long)(1 + i % Math.Max(1, runner.Vocab - 1))).ToArray();
        var mask = Enumerable.Repeat(1L, seq).ToArray();
        for (int i = 0; i < 3; i++) runner.Run(ids, mask, 1, seq);
        var times = new double[20];
        for (int i = 0; i < times.Length; i++)
        {
            var clock = Stopwatch.StartNew();
            runner.Run(ids, mask, 1, seq);
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
