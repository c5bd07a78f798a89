using System.Globalization;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Perf;

/// <summary>
/// Capture throughput against the way Python pruning tools capture (PyTorch eager forward with hooks on down_proj's
/// input, perf/peers/capture_peer.py), same shapes, same thread count, same run. Random weights of two shapes:
/// stories260K at batch 8 x 256, stories42M's shape (dim 512, FFN 1376, 8 layers, 8 heads, vocab 32000) at 4 x 256.
/// <para>Two graphs of ours: the taps-only capture graph (what the capture stage runs: it stops at the last tap, so
/// it skips the final norm, the classifier and the last down_proj, an advantage of building the graph for the job)
/// and the full graph with logits (the same work as the peer, which computes logits). Ours and the peer alternate
/// (ABAB) for several repeats; each figure is the median over repeats of each repeat's median run, and every repeat
/// records the 1-minute load average, because the cores are shared.</para>
/// Usage: <c>capture [--threads 2] [--iters 5] [--repeats 3] [--shape NAME] [--no-peer] [--unfused] [--profile PREFIX] [--python /usr/bin/python3]</c>.
/// </summary>
internal static class CaptureSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["capture"] = Run;

    internal sealed record Shape(string Name, int Dim, int Ffn, int Layers, int Heads, int KvHeads, int Vocab, int Batch, int Seq)
    {
        public LlamaConfig Config => new()
        {
            HiddenSize = Dim, IntermediateSize = Ffn, NumHiddenLayers = Layers, NumAttentionHeads = Heads, NumKeyValueHeads = KvHeads,
            HeadDim = Dim / Heads, VocabSize = Vocab, MaxPositionEmbeddings = 1024, TieWordEmbeddings = true,
        };

        public string PeerArgs(int threads, int iters) => string.Create(CultureInfo.InvariantCulture,
            $"--dim {Dim} --ffn {Ffn} --layers {Layers} --heads {Heads} --kv-heads {KvHeads} --vocab {Vocab} --batch {Batch} --seq {Seq} --threads {threads} --iters {iters} --warmup 1");
    }

    internal static readonly Shape[] Shapes =
    [
        new("stories260K", 64, 172, 5, 8, 4, 512, 8, 256),
        new("stories42M-shape", 512, 1376, 8, 8, 8, 32000, 4, 256),
    ];

    public static int Run(string[] args)
    {
        int threads = Bench.Arg(args, "--threads", 2), iters = Bench.Arg(args, "--iters", 5), repeats = Bench.Arg(args, "--repeats", 3);
        string? only = Bench.StringArg(args, "--shape");
        bool fuse = !args.Contains("--unfused");
        string python = Bench.StringArg(args, "--python") ?? "/usr/bin/python3";
        string? peer = args.Contains("--no-peer") ? null : Bench.RepoFile("perf/peers/capture_peer.py");
        Console.WriteLine($"capture: {threads} intra-op threads (ours and peer), {repeats} ABAB repeats of {iters} timed runs (+1 warm-up) each, {(fuse ? "fused" : "separate")} q/k/v and gate/up MatMuls");
        Console.WriteLine($"start: {Bench.Uptime()}");
        if (peer == null && !args.Contains("--no-peer")) Console.WriteLine("peer script perf/peers/capture_peer.py not found: ours only");
        foreach (var s in Shapes.Where(s => only == null || s.Name.Equals(only, StringComparison.OrdinalIgnoreCase)))
        {
            var config = s.Config;
            using var tensors = Bench.RandomTensors(config);
            var options = new OnnxRunnerOptions { IntraOpThreads = threads, UseCuda = false, ProfilePrefix = Bench.StringArg(args, "--profile") };
            using var tapsOnly = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = false, FuseProjections = fuse }), options);
            using var full = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = true, FuseProjections = fuse }), options);
            var rng = new Random(1);
            var ids = Enumerable.Range(0, s.Batch * s.Seq).Select(_ => (long)rng.Next(s.Vocab)).ToArray();
            var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
            int tokens = s.Batch * s.Seq;
            var ours = new List<double>();
            var oursFull = new List<double>();
            var theirs = new List<double>();
            Console.WriteLine($"{s.Name}: dim {s.Dim}, FFN {s.Ffn}, {s.Layers} layers, {s.Heads} heads / {s.KvHeads} kv, vocab {s.Vocab}, batch {s.Batch} x {s.Seq}");
            Console.WriteLine($"  {"repeat",-7} {"taps-only",12} {"full+logits",12} {"peer",12} {"taps/peer",10} {"full/peer",10} {"load1",6}");
            for (int r = 0; r < repeats; r++)
            {
                double load = Bench.Load1();
                double a = tokens / Bench.MedianSeconds(() => tapsOnly.Run(ids, mask, s.Batch, s.Seq, taps: true), 1, iters);
                double b = tokens / Bench.MedianSeconds(() => full.Run(ids, mask, s.Batch, s.Seq, taps: true), 1, iters);
                ours.Add(a);
                oursFull.Add(b);
                double p = double.NaN;
                if (peer != null)
                {
                    var json = Bench.RunPeer(python, peer, s.PeerArgs(threads, iters), out string error);
                    if (json is { } j) p = j.GetProperty("tokens_per_s").GetDouble();
                    else
                    {
                        Console.WriteLine($"  peer failed ({error}); install it with perf/peers/install_torch_peer.sh");
                        peer = null;
                    }
                }
                if (!double.IsNaN(p)) theirs.Add(p);
                load = Math.Max(load, Bench.Load1());
                Console.WriteLine($"  {r + 1,-7} {a,12:F0} {b,12:F0} {p,12:F0} {a / p,9:F2}x {b / p,9:F2}x {load,6:F1}");
            }
            double mo = Bench.Median(ours), mf = Bench.Median(oursFull);
            string ratio = theirs.Count > 0 ? $", peer {Bench.Median(theirs):F0}: taps-only/peer {mo / Bench.Median(theirs):F2}x, full/peer {mf / Bench.Median(theirs):F2}x" : "";
            Console.WriteLine($"  median tokens/s: taps-only {mo:F0}, full+logits {mf:F0}{ratio}");
            Console.WriteLine($"  {Bench.Uptime()}");
        }
        return 0;
    }
}
