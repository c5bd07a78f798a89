using System.Diagnostics;
using System.Globalization;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Perf;

/// <summary>
/// `stream`: one prune of a synthetic LLaMA checkpoint (seeded random weights, written once to --folder) by the
/// layer-streaming pipeline (--path stream, or sequential) or the whole-model one (--path whole), in this process, so
/// that its peak RSS (VmHWM) is the path's own. Run once per path, in separate processes.
/// Default shape: the issue's 134M (dim 768, FFN 2048, 12 layers, 12 heads, vocab 32000).
/// </summary>
internal static class StreamSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["stream"] = Run;

    public static int Run(string[] args)
    {
        string path = Bench.StringArg(args, "--path") ?? "stream";
        string folder = Bench.StringArg(args, "--folder") ?? Path.Combine(Path.GetTempPath(), "llmprune-synthetic-134M");
        int dim = Bench.Arg(args, "--dim", 768), ffn = Bench.Arg(args, "--ffn", 2048), layers = Bench.Arg(args, "--layers", 12);
        int heads = Bench.Arg(args, "--heads", 12), vocab = Bench.Arg(args, "--vocab", 32000);
        int threads = Bench.Arg(args, "--threads", 2), samples = Bench.Arg(args, "--samples", CalibrationOptions.DefaultSamples);
        int calibSeqs = Bench.Arg(args, "--calib-seqs", 0);
        string method = Bench.StringArg(args, "--method") ?? "mi-conditional";
        double ratio = double.Parse(Bench.StringArg(args, "--ratio") ?? "0.3", CultureInfo.InvariantCulture);
        string shared = Bench.StringArg(args, "--shared") ?? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Bench.RepoFile("LlmPruneFast.sln")) ?? ".", "..", "shared"));

        if (!File.Exists(Path.Combine(folder, "config.json")))
        {
            var config = new LlamaConfig
            {
                HiddenSize = dim, IntermediateSize = ffn, NumHiddenLayers = layers, NumAttentionHeads = heads, NumKeyValueHeads = heads,
                HeadDim = dim / heads, VocabSize = vocab, MaxPositionEmbeddings = 2048, TieWordEmbeddings = false,
            };
            var clock = Stopwatch.StartNew();
            // Generated and written one tensor at a time (the values of Bench.RandomTensors), never the whole model.
            new SyntheticLlama(config).Write(folder, Path.Combine(shared, "models/llama2-tokenizer/tokenizer.model"), long.MaxValue);
            Console.WriteLine($"wrote {folder} in {clock.Elapsed.TotalSeconds:F1} s");
            return 0; // a fresh process for the timed run, so writing does not count in its peak RSS
        }
        string text = CorpusSplit.Halves(Path.Combine(shared, "corpora/tinystories/valid-sample.txt")).Item1;
        using var checkpoint = LlamaCheckpoint.Open(folder);
        var tokenizer = ModelTokenizer.Load(checkpoint.TokenizerPath);
        var settings = new PruneSettings
        {
            Method = method, Ratio = ratio, Threads = threads,
            Calibration = new CalibrationOptions { Samples = samples, Threads = threads, Sequences = calibSeqs, Layout = CalibrationLayout.Paragraphs, MemoryBudgetBytes = 20L << 30 },
        };
        Console.WriteLine($"stream: path {path}, {checkpoint.Config.HiddenSize}/{checkpoint.Config.IntermediateSize}/{checkpoint.Config.NumHiddenLayers} layers, " +
            $"vocab {checkpoint.Config.VocabSize}, {method} ratio {ratio}, S {samples}, calib-seqs {calibSeqs}, {threads} threads");
        Console.WriteLine($"start: {Bench.Uptime()}");
        var total = Stopwatch.StartNew();
        PruneOutcome outcome;
        if (path == "whole")
            outcome = ModelPruner.Run(new LlamaModel(checkpoint.Config, checkpoint.Tensors, tokenizer, folder), text, "tinystories-calib", settings);
        else
        {
            var prepared = StreamingPruner.Prepare(new LlamaModel(checkpoint.Config, checkpoint.Tensors, tokenizer), text, "tinystories-calib", settings,
                path == "sequential" ? CaptureMode.Sequential : CaptureMode.Dense);
            Console.WriteLine(prepared.Memory.Describe());
            outcome = StreamingPruner.Run(prepared, new LlamaModel(checkpoint.Config, checkpoint.Tensors, name: folder));
        }
        Console.WriteLine($"seconds: {string.Join(", ", outcome.StageSeconds.Select(kv => $"{kv.Key} {kv.Value:F1}"))}, total {total.Elapsed.TotalSeconds:F1}");
        Console.WriteLine($"tokens run: {outcome.Calibration.SequencesRun} sequences; removed {outcome.Plan.Layers.Sum(l => l.Removed.Count)} neurons");
        Console.WriteLine($"peak RSS: {Status("VmHWM")} MiB; now: RSS {Status("VmRSS")} MiB = anonymous {Status("RssAnon")} + file-backed {Status("RssFile")} (the memory-mapped checkpoint)");
        Console.WriteLine($"end: {Bench.Uptime()}");
        return 0;
    }

    /// <summary>A kB field of /proc/self/status (VmHWM = peak RSS), in MiB (-1 where absent).</summary>
    private static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        return -1;
    }
}
