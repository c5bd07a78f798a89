using System.Diagnostics;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Perf;

/// <summary>
/// Capture throughput: tokens per second of a forward pass with FFN taps through ONNX Runtime, on random weights of
/// two shapes (stories260K at batch 8 x 256; stories42M's shape, dim 512, FFN 1376, 8 layers, vocab 32000, at 4 x 256).
/// Usage: <c>capture [--logits] [--threads N] [--iters N]</c>. Without --logits the graph stops at the last tap.
/// </summary>
internal static class CaptureSuite
{
    /// <summary>Registers the suite (a module initializer, so other suites can register the same way).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["capture"] = Run;


    private sealed record Shape(string Name, int Dim, int Ffn, int Layers, int Heads, int KvHeads, int Vocab, int Batch, int Seq);

    private static readonly Shape[] Shapes =
    [
        new("stories260K", 64, 172, 5, 8, 4, 512, 8, 256),
        new("stories42M-shape", 512, 1376, 8, 8, 8, 32000, 4, 256),
    ];

    public static int Run(string[] args)
    {
        bool logits = args.Contains("--logits");
        int threads = Arg(args, "--threads", 0), iters = Arg(args, "--iters", 10);
        Console.WriteLine($"capture: taps on, logits {(logits ? "on" : "off")}, threads {(threads == 0 ? Environment.ProcessorCount : threads)}, {iters} timed runs after 2 warm-up runs");
        foreach (var s in Shapes)
        {
            var config = new LlamaConfig
            {
                HiddenSize = s.Dim, IntermediateSize = s.Ffn, NumHiddenLayers = s.Layers, NumAttentionHeads = s.Heads,
                NumKeyValueHeads = s.KvHeads, HeadDim = s.Dim / s.Heads, VocabSize = s.Vocab, MaxPositionEmbeddings = 1024, TieWordEmbeddings = true,
            };
            using var tensors = RandomTensors(config);
            using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = logits }),
                new OnnxRunnerOptions { IntraOpThreads = threads });
            var rng = new Random(1);
            var ids = Enumerable.Range(0, s.Batch * s.Seq).Select(_ => (long)rng.Next(s.Vocab)).ToArray();
            var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
            for (int i = 0; i < 2; i++) runner.Run(ids, mask, s.Batch, s.Seq, taps: true);
            var times = new List<double>();
            for (int i = 0; i < iters; i++)
            {
                var clock = Stopwatch.StartNew();
                runner.Run(ids, mask, s.Batch, s.Seq, taps: true);
                times.Add(clock.Elapsed.TotalSeconds);
            }
            times.Sort();
            double median = times[times.Count / 2];
            Console.WriteLine($"{s.Name,-18} batch {s.Batch} x {s.Seq}: median {median * 1000:F1} ms, {s.Batch * s.Seq / median:F0} tokens/s (best {s.Batch * s.Seq / times[0]:F0})");
        }
        return 0;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    private static InMemoryTensorSource RandomTensors(LlamaConfig c)
    {
        var rng = new Random(7);
        var t = new InMemoryTensorSource();
        void Add(string name, params int[] shape)
        {
            var data = new float[shape.Aggregate(1, (a, b) => a * b)];
            double scale = shape.Length == 2 ? 1 / Math.Sqrt(shape[1]) : 0;
            for (int i = 0; i < data.Length; i++) data[i] = shape.Length == 1 ? 1f : (float)((rng.NextDouble() * 2 - 1) * scale);
            t.Add(name, shape.Select(x => (long)x).ToArray(), data);
        }
        int d = c.HiddenSize, kv = c.NumKeyValueHeads * c.HeadDim;
        Add(LlamaTensorNames.Embedding, c.VocabSize, d);
        Add(LlamaTensorNames.FinalNorm, d);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            Add(LlamaTensorNames.AttentionNorm(l), d); Add(LlamaTensorNames.FfnNorm(l), d);
            Add(LlamaTensorNames.Q(l), d, d); Add(LlamaTensorNames.K(l), kv, d); Add(LlamaTensorNames.V(l), kv, d); Add(LlamaTensorNames.O(l), d, d);
            Add(LlamaTensorNames.Gate(l), c.IntermediateSize, d); Add(LlamaTensorNames.Up(l), c.IntermediateSize, d); Add(LlamaTensorNames.Down(l), d, c.IntermediateSize);
        }
        return t;
    }
}
