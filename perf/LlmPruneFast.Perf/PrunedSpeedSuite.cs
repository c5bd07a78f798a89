using System.Globalization;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Perf;

/// <summary>
/// The pruned model is smaller and faster: dense vs uniformly pruned (30% and 50% of every FFN layer, flap with its
/// default bias compensation, calibrated on ../shared/corpora/tinystories/valid-sample.txt) in the same run, on
/// stories260K and on a wider LLaMA with seeded random weights (dim 1024, FFN 4096, 4 layers, 16 heads, 16 kv heads,
/// vocab 512 so that stories260K's tokenizer calibrates it; FFN is ~3/4 of its matrix FLOPs). Per model: parameters,
/// bytes of model.safetensors and model.onnx, FFN and total matrix FLOPs per token, ONNX Runtime latency of a
/// batch 1 x 128 forward and tokens/s at batch 8 x 256 (logits graph, no taps), each the median over ABAB repeats of
/// per-repeat medians. The ideal speed-up is the ratio of matrix FLOPs per token (dense / pruned) at that shape.
/// Usage: <c>pruned-speed [--shared DIR] [--threads 2] [--iters 3] [--repeats 3] [--model stories260K|wide]</c>.
/// </summary>
internal static class PrunedSpeedSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["pruned-speed"] = Run;

    private static readonly double[] Ratios = [0.3, 0.5];

    private sealed record Variant(string Name, LlamaConfig Config, ITensorSource Tensors, OnnxLlamaRunner Runner, long Parameters, long SafetensorsBytes, long OnnxBytes)
    {
        public List<double> Latency { get; } = [];
        public List<double> Throughput { get; } = [];
    }

    public static int Run(string[] args)
    {
        string shared = Bench.StringArg(args, "--shared") ?? FindShared();
        int threads = Bench.Arg(args, "--threads", 2), iters = Bench.Arg(args, "--iters", 3), repeats = Bench.Arg(args, "--repeats", 3);
        string? only = Bench.StringArg(args, "--model");
        var tokenizer = ModelTokenizer.Load(Path.Combine(shared, "models/stories260K/tok512.model"));
        string corpus = Path.Combine(shared, "corpora/tinystories/valid-sample.txt");
        string text = TextCorpus.Read(corpus);
        Console.WriteLine($"pruned-speed: {threads} intra-op threads, {repeats} ABAB repeats of {iters} timed runs (+1 warm-up); flap, uniform budget, bias compensation");
        Console.WriteLine($"start: {Bench.Uptime()}");
        var models = new List<(string Name, Func<(LlamaConfig, ITensorSource)> Load)>
        {
            ("stories260K", () => { var (c, t) = Llama2cCheckpoint.Read(Path.Combine(shared, "models/stories260K/stories260K.bin")); return (c, t); }),
            ("wide-random (dim 1024, FFN 4096, 4 layers, 16/16 heads, vocab 512)", () =>
            {
                var c = new LlamaConfig
                {
                    HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 4, NumAttentionHeads = 16, NumKeyValueHeads = 16, HeadDim = 64,
                    VocabSize = tokenizer.VocabularySize, MaxPositionEmbeddings = 512, TieWordEmbeddings = true,
                };
                return (c, Bench.RandomTensors(c));
            }),
        };
        string temp = Directory.CreateTempSubdirectory("pruned-speed-").FullName;
        try
        {
            foreach (var (name, load) in models.Where(m => only == null || m.Name.StartsWith(only, StringComparison.OrdinalIgnoreCase)))
                Measure(name, load, tokenizer, text, corpus, temp, threads, iters, repeats);
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
        return 0;
    }

    private static void Measure(string name, Func<(LlamaConfig, ITensorSource)> load, IModelTokenizer tokenizer, string text, string corpus,
        string temp, int threads, int iters, int repeats)
    {
        var (config, tensors) = load();
        var runnerOptions = new OnnxRunnerOptions { IntraOpThreads = threads, UseCuda = false };
        var variants = new List<Variant> { Make("dense", config, tensors, temp, runnerOptions) };
        try
        {
            foreach (double ratio in Ratios)
            {
                var settings = new PruneSettings
                {
                    Method = "flap", Ratio = ratio, Seed = 1, Threads = threads,
                    Calibration = new CalibrationOptions { Samples = 2048, Seed = 1, Layout = CalibrationLayout.Paragraphs },
                };
                var outcome = ModelPruner.Run(new LlamaModel(config, tensors, tokenizer, name), text, corpus, settings);
                var (pc, pt) = PrunedModel.Build(config, tensors, outcome.Layers);
                variants.Add(Make($"pruned {ratio:P0}", pc, pt, temp, runnerOptions));
            }
            Console.WriteLine($"{name}: config {Describe(config)}");
            var rng = new Random(3);
            long[] Ids(int n) => Enumerable.Range(0, n).Select(_ => (long)rng.Next(config.VocabSize)).ToArray();
            long[] ids1 = Ids(128), ids8 = Ids(8 * 256);
            long[] mask1 = Enumerable.Repeat(1L, ids1.Length).ToArray(), mask8 = Enumerable.Repeat(1L, ids8.Length).ToArray();
            var loads = new List<double>();
            for (int r = 0; r < repeats; r++)
            {
                loads.Add(Bench.Load1());
                foreach (var v in variants) // A B C A B C ...: each repeat measures every variant under the same load
                {
                    v.Latency.Add(Bench.MedianSeconds(() => v.Runner.Run(ids1, mask1, 1, 128), 1, iters));
                    v.Throughput.Add(8 * 256 / Bench.MedianSeconds(() => v.Runner.Run(ids8, mask8, 8, 256), 1, iters));
                }
            }
            loads.Add(Bench.Load1());
            var dense = variants[0];
            double denseFlops = MatrixFlopsPerToken(dense.Config, 256);
            Console.WriteLine($"  {"model",-12} {"FFN widths",-22} {"params",11} {"safetensors B",14} {"onnx B",12} {"FFN MFLOP/tok",14} {"all MFLOP/tok",14} {"lat 1x128 ms",13} {"tok/s 8x256",12} {"speed-up",9} {"ideal",7} {"of ideal",9}");
            foreach (var v in variants)
            {
                double flops = MatrixFlopsPerToken(v.Config, 256), tput = Bench.Median(v.Throughput), lat = Bench.Median(v.Latency);
                double speedup = tput / Bench.Median(dense.Throughput), ideal = denseFlops / flops;
                string widths = string.Join(",", Enumerable.Range(0, v.Config.NumHiddenLayers).Select(v.Config.FfnWidth).Distinct());
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {v.Name,-12} {widths,-22} {v.Parameters,11:N0} {v.SafetensorsBytes,14:N0} {v.OnnxBytes,12:N0} {FfnFlopsPerToken(v.Config) / 1e6,14:F2} {flops / 1e6,14:F2} {lat * 1000,13:F1} {tput,12:F0} {speedup,8:F2}x {ideal,6:F2}x {speedup / ideal,8:P0}"));
            }
            Console.WriteLine($"  latency speed-up (dense / pruned, batch 1 x 128): {string.Join(", ", variants.Skip(1).Select(v => $"{v.Name} {Bench.Median(dense.Latency) / Bench.Median(v.Latency):F2}x"))}");
            Console.WriteLine($"  load1 at each repeat: {string.Join(", ", loads.Select(l => l.ToString("F1", CultureInfo.InvariantCulture)))}; {Bench.Uptime()}");
        }
        finally
        {
            foreach (var v in variants) v.Runner.Dispose();
        }
    }

    private static Variant Make(string name, LlamaConfig config, ITensorSource tensors, string temp, OnnxRunnerOptions options)
    {
        string dir = Path.Combine(temp, $"{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string st = Path.Combine(dir, "model.safetensors");
        SafeTensorsWriter.Write(st, tensors);
        var graph = LlamaOnnxBuilder.Build(config, tensors);
        string onnx = LlamaOnnxModel.SaveOnnx(graph, dir);
        long onnxBytes = Directory.GetFiles(dir, "model.onnx*").Sum(f => new FileInfo(f).Length); // with external data, if any
        return new Variant(name, config, tensors, OnnxLlamaRunner.Create(onnx, options), PrunedModel.Parameters(config), new FileInfo(st).Length, onnxBytes);
    }

    /// <summary>FFN FLOPs per token: 2 x 3 x D x N_l summed over layers (gate, up and down products; 2 FLOPs per multiply-add).</summary>
    internal static double FfnFlopsPerToken(LlamaConfig c) => Enumerable.Range(0, c.NumHiddenLayers).Sum(l => 6.0 * c.HiddenSize * c.FfnWidth(l));

    /// <summary>
    /// Matrix FLOPs per token of the graph at sequence length <paramref name="seq"/>: FFN, q/k/v/o projections,
    /// attention scores and context (the graph computes the full seq x seq block, masked), and the classifier.
    /// </summary>
    internal static double MatrixFlopsPerToken(LlamaConfig c, int seq)
    {
        int hd = c.HeadDim > 0 ? c.HeadDim : c.HiddenSize / c.NumAttentionHeads;
        double proj = 2.0 * c.HiddenSize * (2 * c.NumAttentionHeads + 2 * c.NumKeyValueHeads) * hd;
        double attention = 2.0 * 2 * seq * c.NumAttentionHeads * hd;
        return FfnFlopsPerToken(c) + c.NumHiddenLayers * (proj + attention) + 2.0 * c.HiddenSize * c.VocabSize;
    }

    private static string Describe(LlamaConfig c) =>
        $"dim {c.HiddenSize}, FFN {c.IntermediateSize}, {c.NumHiddenLayers} layers, {c.NumAttentionHeads}/{c.NumKeyValueHeads} heads, vocab {c.VocabSize}";

    private static string FindShared()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "models/stories260K"))) return candidate;
            candidate = Path.Combine(dir.FullName, "..", "shared");
            if (Directory.Exists(Path.Combine(candidate, "models/stories260K"))) return Path.GetFullPath(candidate);
        }
        throw new MissingInputException("../shared (stories260K and TinyStories) not found: pass --shared DIR");
    }
}
