using CommandLine;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Pipeline;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune demo-encoder</c>: the encoder half of <c>./build.sh demo</c>. Dense MiniLM (or any encoder folder):
/// size, STS Spearman when a pair file is given, latency at 32 x 128 tokens; with <c>--pruned</c>, the same for a
/// pruned folder next to it plus fidelity (mean cosine of pruned to dense embeddings).
/// </summary>
[Verb("demo-encoder", HelpText = "Encoder demo: parameters, STS Spearman (--sts), latency at 32 x 128 tokens; with --pruned DIR, dense vs pruned side by side with fidelity.")]
public sealed class EncoderDemoCommand : ICommand
{
    [Option("model", Required = true, HelpText = "Dense encoder folder (model.onnx + vocab.txt), e.g. from `llmprune fetch`.")]
    public string Model { get; set; } = "";

    [Option("pruned", HelpText = "A pruned encoder folder to compare with the dense one.")]
    public string? Pruned { get; set; }

    [Option("sts", HelpText = "STS Benchmark pair file (GLUE STS-B tsv or SentEval csv).")]
    public string? Sts { get; set; }

    [Option("text", HelpText = "Sentences (one per line) for fidelity; default: the STS sentences, else a built-in set.")]
    public string? Text { get; set; }

    [Option("latency-batch", Default = 32, HelpText = "Sequences per timed forward pass (each 128 tokens).")]
    public int LatencyBatch { get; set; }

    [Option("latency-repeats", Default = 10, HelpText = "Timed forward passes per model (the median is reported).")]
    public int LatencyRepeats { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    /// <summary>Fidelity sentences when neither --text nor --sts is given (a fresh clone without ../shared).</summary>
    internal static readonly string[] BuiltInSentences =
    [
        "A man is playing the guitar on a street corner.", "The committee approved the budget after a long debate.",
        "Two dogs are running through the snow.", "Prices of crude oil rose for the third day in a row.",
        "She poured the tea and sat down by the window.", "The new bridge will connect the island to the mainland.",
        "A child is drawing a picture of a house.", "Scientists observed the comet with a large telescope.",
        "The train was delayed because of the storm.", "He forgot his keys at the office again.",
        "A woman is cutting vegetables in the kitchen.", "The team celebrated their victory in the final.",
    ];

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        var pairs = Sts != null ? StsBenchmark.Read(Sts) : null;
        var device = DeviceOption.Resolve(Device, Devices.DeviceStages.Onnx);
        var options = new SentenceEncoderOptions { IntraOpThreads = Threads, UseCuda = device.OnnxCuda };
        using var dense = SentenceEncoder.Open(Model, options);
        using var pruned = Pruned != null ? SentenceEncoder.Open(Pruned, options) : null;
        if (pruned == null)
        {
            Print("dense", dense, pairs == null ? null : EncoderEvaluation.Sts(dense, pairs, cancellationToken));
            var latency = EncoderEvaluation.Latency(dense, LatencyBatch, repeats: LatencyRepeats, ct: cancellationToken);
            Console.WriteLine($"latency    dense {latency.MedianMs:F1} ms per {latency.Batch} x {latency.Seq} tokens ({latency.TokensPerSecond:F0} tokens/s)");
            return ExitCodes.Ok;
        }
        IReadOnlyList<string> sentences = Text != null
            ? SentenceFile.Read(Text)
            : pairs != null ? SentenceFile.Distinct(pairs) : BuiltInSentences;
        // The comparison prune and report make (GraphComparison), at the demo's latency batch.
        var measured = GraphComparison.Encoders(dense, pruned, new GraphMeasureRequest { Sentences = sentences, Pairs = pairs, Latency = true },
            LatencyBatch, LatencyRepeats, cancellationToken);
        Print("dense", dense, measured.Sts?.Dense);
        Print("pruned", pruned, measured.Sts?.Pruned);
        var fidelity = measured.Fidelity!;
        Console.WriteLine($"fidelity   mean cosine {fidelity.MeanCosine:F4} (min {fidelity.MinCosine:F4}) pruned vs dense on {fidelity.Sentences} sentences");
        var (a, b) = measured.Latency!.Value;
        Console.WriteLine($"latency    dense {a.MedianMs:F1} ms, pruned {b.MedianMs:F1} ms per {a.Batch} x {a.Seq} tokens ({a.MedianMs / b.MedianMs:F2}x)");
        return ExitCodes.Ok;
    }

    private static void Print(string label, SentenceEncoder encoder, StsResult? sts)
    {
        long bytes = new FileInfo(encoder.Folder.ModelPath).Length;
        Console.WriteLine($"{label,-10} {encoder.Folder.Directory}: {encoder.Parameters:N0} parameters, {WrittenFilesPrinter.FormatBytes(bytes)} model.onnx, {encoder.Dimension}-d {encoder.Pooling.ToString().ToLowerInvariant()} pooling");
        if (sts != null) Console.WriteLine($"{"",-10} STS Spearman x100 {sts.Spearman:F2} on {sts.Pairs} pairs ({sts.Seconds:F1} s)");
    }
}
