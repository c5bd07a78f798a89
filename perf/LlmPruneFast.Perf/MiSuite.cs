using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LlmPruneFast.Information;

namespace LlmPruneFast.Perf;

/// <summary>
/// `mi` suite: pairs per second of every estimator at S = 1024 and 4096 (pair-list path, all cores), the all-pairs
/// time of a layer with N = 1024, 4096, 11008 at S = 2048, and the Python peer (numpy histogram2d, scikit-learn
/// plug-in and KSG) on the same files in the same run, with our/their ratios.
/// Options: --no-peer, --quick (smaller budgets, N = 11008 only for copula), --full-plugin (time the whole 11008 plug-in
/// layer instead of extrapolating from a block of rows), --pairs-only / --all-pairs-only (one of the two sections).
/// </summary>
public static partial class Suites
{
    static Suites()
    {
        All["mi"] = MiSuite.Run;
        All["mi-micro"] = MiSuite.Micro;
        All["mi-single"] = MiSingleSuite.Run;
        All["mi-bandwidth"] = MiBandwidthSuite.Run;
        All["mi-pairs"] = MiPairsSuite.Run;
    }
}

internal static class MiSuite
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        bool peer = !args.Contains("--no-peer"), quick = args.Contains("--quick"), fullPlugin = args.Contains("--full-plugin");
        bool pairsOnly = args.Contains("--pairs-only"), allPairsOnly = args.Contains("--all-pairs-only");
        string dir = Path.Combine(FindRoot(), "perf", "results-raw");
        Directory.CreateDirectory(dir);
        Console.WriteLine($"MI suite: {Environment.ProcessorCount} cores, Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, {DateTime.UtcNow:u}");

        foreach (int s in allPairsOnly ? [] : new[] { 1024, 4096 })
        {
            const int n = 256;
            var z = Layer(s, n, seed: s);
            var pairs = RandomPairs(n, 32768, seed: 1);
            string data = Path.Combine(dir, $"mi_s{s}.f32"), pairsFile = Path.Combine(dir, $"mi_s{s}_pairs.txt");
            WriteRowMajor(z, data);
            File.WriteAllLines(pairsFile, pairs.Select(p => $"{p.I},{p.J}"));
            Console.WriteLine($"\n## pairs per second, S = {s} (N = {n} columns, random pairs, EstimatePairs on all cores)");
            var ours = new Dictionary<string, double>
            {
                ["plugin16"] = PairsPerSecond("plugin16", new PluginEstimator(16, false), z, pairs, quick ? 0.5 : 2),
                ["ksg3"] = PairsPerSecond("ksg3", new KsgEstimator(3), z, pairs, quick ? 0.5 : 2),
                ["renyi2"] = PairsPerSecond("renyi2", new RenyiEstimator(2.0, Bandwidth.Silverman), z, pairs, quick ? 0.5 : 2),
                ["copula"] = PairsPerSecond("copula", new CopulaEstimator(), z, pairs, quick ? 0.5 : 2),
            };
            if (s == 1024) ours["renyi1.01"] = PairsPerSecond("renyi1.01", new RenyiEstimator(1.01, Bandwidth.Silverman), z, pairs[..2], 0);
            foreach (var (k, v) in ours) Console.WriteLine($"  {k,-10} {v,14:N1} pairs/s   ({CpuRates[k]:N1} per CPU-second)");
            if (peer)
            {
                var p = RunPeer(data, s, n, pairsFile, quick ? 1.5 : 4);
                if (p != null)
                {
                    double Rate(string name, string key) => p.Value.GetProperty(name).GetProperty(key).GetDouble();
                    double h = Rate("histogram2d", "pairs_per_s"), sp = Rate("sklearn_plugin", "pairs_per_s"), sk = Rate("sklearn_ksg", "pairs_per_s");
                    double hc = Rate("histogram2d", "pairs_per_cpu_s"), spc = Rate("sklearn_plugin", "pairs_per_cpu_s"), skc = Rate("sklearn_ksg", "pairs_per_cpu_s");
                    Console.WriteLine($"  peer: numpy histogram2d {h:N1}/s ({hc:N1}/CPU-s), sklearn mutual_info_score {sp:N1}/s ({spc:N1}/CPU-s), sklearn KSG {sk:N1}/s ({skc:N1}/CPU-s)");
                    Console.WriteLine($"  ratio plugin16 / histogram2d       = {ours["plugin16"] / h,7:N1}x wall, {CpuRates["plugin16"] / hc,7:N1}x per CPU-second");
                    Console.WriteLine($"  ratio plugin16 / mutual_info_score = {ours["plugin16"] / sp,7:N1}x wall, {CpuRates["plugin16"] / spc,7:N1}x per CPU-second");
                    Console.WriteLine($"  ratio ksg3 / sklearn KSG           = {ours["ksg3"] / sk,7:N1}x wall, {CpuRates["ksg3"] / skc,7:N1}x per CPU-second");
                    CheckSameValues(p.Value, z, pairs);
                }
            }
        }

        if (pairsOnly) return 0;
        Console.WriteLine("\n## all pairs of a layer, S = 2048");
        foreach (int n in new[] { 1024, 4096, 11008 })
        {
            var z = Layer(2048, n, seed: n);
            long total = (long)n * (n - 1) / 2;
            Console.WriteLine($"N = {n} ({total:N0} pairs):");
            Console.WriteLine($"  copula   {AllPairsSeconds(new CopulaEstimator(), z),8:F2} s (measured, whole layer) {Cpu()}");
            if (!quick || n < 11008)
            {
                if (n < 11008 || fullPlugin)
                    Console.WriteLine($"  plugin16 {AllPairsSeconds(new PluginEstimator(16, false), z),8:F2} s (measured, whole layer) {Cpu()}");
                else
                {
                    // the first 1024 columns against all: 1024 * 11008 - 1024*1025/2 pairs, the same per-pair work
                    var sub = z.SelectColumns(Enumerable.Range(0, 1536).ToArray());
                    double t = AllPairsSeconds(new PluginEstimator(16, false), sub);
                    long subPairs = 1536L * 1535 / 2;
                    Console.WriteLine($"  plugin16 {t * total / subPairs,8:F2} s (extrapolated from all {subPairs:N0} pairs of 1536 columns: {t:F2} s) {Cpu((double)total / subPairs)}");
                }
            }
            foreach (var (name, est) in new (string, IMutualInformationEstimator)[] { ("ksg3", new KsgEstimator(3)), ("renyi2", new RenyiEstimator(2.0, Bandwidth.Silverman)) })
            {
                var pairs = RandomPairs(n, 2000, seed: 2);
                double rate = PairsPerSecond(est, z, pairs, quick ? 0.5 : 1.5);
                Console.WriteLine($"  {name,-8} {total / rate,8:F0} s (extrapolated from {rate:N0} pairs/s on random pairs)");
            }
        }
        return 0;
    }

    /// <summary>Per-pair cost without column preparation: one pair repeated, per estimator (diagnostics).</summary>
    public static int Micro(string[] args)
    {
        int s = args.Length > 0 ? int.Parse(args[0], Inv) : 1024;
        var z = Layer(s, 2, seed: 5);
        var pairs = Enumerable.Repeat((0, 1), 4096).ToArray();
        foreach (var (name, est) in new (string, IMutualInformationEstimator)[]
                 { ("plugin16", new PluginEstimator(16, false)), ("ksg3", new KsgEstimator(3)), ("renyi2", new RenyiEstimator(2, Bandwidth.Silverman)), ("copula", new CopulaEstimator()) })
        {
            double rate = PairsPerSecond(name, est, z, pairs, 1.0);
            Console.WriteLine($"{name,-10} S={s}: {rate,12:N1} pairs/s wall, {CpuRates[name],12:N1} per CPU-second");
        }
        // plug-in all pairs as a one-hot Gram matrix: 64 columns x 16 bins = 1024 one-hot float32 columns, whose
        // Gram blocks are the 16 x 16 joint histograms of the 64*63/2 pairs (the diagonal blocks' extra work is ignored).
        var layer = Layer(s, 64, seed: 3);
        var oneHot = new float[s * 64 * 16];
        var rank = new int[s];
        for (int j = 0; j < 64; j++)
        {
            var order = Enumerable.Range(0, s).OrderBy(i => layer[i, j]).ToArray();
            for (int p = 0; p < s; p++) rank[order[p]] = p;
            for (int i = 0; i < s; i++) oneHot[(j * 16 + rank[i] * 16 / s) * s + i] = 1f;
        }
        var tile = new float[64 * 64];
        var sw = Stopwatch.StartNew();
        int reps = 0;
        while (sw.Elapsed.TotalSeconds < 1)
        {
            for (int a = 0; a < 1024; a += 64)
                for (int b = a; b < 1024; b += 64) ColumnGram.Tile(oneHot, s, a, 64, b, 64, tile);
            reps++;
        }
        double gemmRate = reps * (64 * 63 / 2.0) / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"plug-in as a one-hot Gram, S={s}: {gemmRate:N0} pairs/s on 1 thread (float32 GEMM of 1024 one-hot columns, 16x16 blocks); compare the counting rate per CPU-second on the plugin16 line");
        return 0;
    }

    /// <summary>A layer-like S x N matrix: z_j = silu(a f_(j mod 8) + e) * (b f_((j+3) mod 8) + e'), f latent normals (seeded).</summary>
    internal static ActivationMatrix Layer(int s, int n, int seed)
    {
        var rng = new Random(seed);
        var f = new double[s * 8];
        for (int i = 0; i < f.Length; i++) f[i] = Normal(rng);
        var z = new ActivationMatrix(s, n);
        for (int j = 0; j < n; j++)
        {
            double a = 0.5 + rng.NextDouble(), b = rng.NextDouble();
            var col = z.ColumnMutable(j);
            for (int i = 0; i < s; i++)
            {
                double g = a * f[i * 8 + j % 8] + Normal(rng), u = b * f[i * 8 + (j + 3) % 8] + Normal(rng);
                col[i] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
        }
        return z;
    }

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    internal static (int I, int J)[] RandomPairs(int n, int count, int seed)
    {
        var rng = new Random(seed);
        var p = new (int, int)[count];
        for (int k = 0; k < count; k++)
        {
            int i = rng.Next(n), j = rng.Next(n - 1);
            p[k] = (i, j >= i ? j + 1 : j);
        }
        return p;
    }

    /// <summary>Repeats the pair list until <paramref name="budget"/> seconds have passed (at least once); pairs/s.</summary>
    private static readonly Dictionary<string, double> CpuRates = [];

    private static double PairsPerSecond(IMutualInformationEstimator est, ActivationMatrix z, (int I, int J)[] pairs, double budget)
        => PairsPerSecond("", est, z, pairs, budget);

    /// <summary>Wall-clock pairs/s; pairs per CPU-second (all threads of this process) goes to CpuRates[key].</summary>
    private static double PairsPerSecond(string key, IMutualInformationEstimator est, ActivationMatrix z, (int I, int J)[] pairs, double budget)
    {
        var r = new double[pairs.Length];
        est.EstimatePairs(z, pairs[..Math.Min(pairs.Length, 16)], r); // warm-up (JIT)
        // grow the batch until one batch takes ~budget/4, then time whole batches
        int batch = Math.Min(pairs.Length, 16);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        long done = 0;
        while (true)
        {
            var t0 = sw.Elapsed.TotalSeconds;
            est.EstimatePairs(z, pairs[..batch], r);
            done += batch;
            double dt = sw.Elapsed.TotalSeconds - t0;
            if (sw.Elapsed.TotalSeconds >= budget) break;
            if (dt < budget / 4 && batch < pairs.Length) batch = Math.Min(pairs.Length, batch * 2);
        }
        double wall = sw.Elapsed.TotalSeconds, cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        if (key.Length > 0) CpuRates[key] = done / cpu;
        return done / wall;
    }

    /// <summary>CPU seconds (all threads) of the last <see cref="AllPairsSeconds"/> call.</summary>
    private static double _lastCpu;

    private static double AllPairsSeconds(IMutualInformationEstimator est, ActivationMatrix z)
    {
        var sink = new CountingSink();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        est.EstimateAllPairs(z, sink);
        _lastCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        return sw.Elapsed.TotalSeconds;
    }

    private static string Cpu(double scale = 1) => $"[CPU {_lastCpu * scale:F1} s, i.e. {_lastCpu * scale / Environment.ProcessorCount:F1} s wall on {Environment.ProcessorCount} idle cores]";

    private sealed class CountingSink : IMiTileSink
    {
        private double _sum;
        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            float s = System.Numerics.Tensors.TensorPrimitives.Sum(tile);
            lock (this) _sum += s;
        }
    }

    internal static void WriteRowMajor(ActivationMatrix z, string path)
    {
        var rows = new float[z.Rows * z.Columns];
        for (int j = 0; j < z.Columns; j++)
        {
            var c = z.Column(j);
            for (int i = 0; i < z.Rows; i++) rows[i * z.Columns + j] = c[i];
        }
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan()).ToArray());
    }

    private static JsonElement? RunPeer(string data, int s, int n, string pairs, double budget)
    {
        string script = Path.Combine(FindRoot(), "perf", "peers", "run_mi_peer.sh");
        var result = Bench.RunPeer("bash", script, $"{data} {s.ToString(Inv)} {n.ToString(Inv)} {pairs} {budget.ToString(Inv)}", out string error);
        if (result == null) Console.WriteLine($"  peer failed: {error}");
        return result;
    }

    /// <summary>The peer's first plug-in values must equal ours (same bins, same data): proof both sides did the same work.</summary>
    private static void CheckSameValues(JsonElement peer, ActivationMatrix z, (int I, int J)[] pairs)
    {
        var first = peer.GetProperty("sklearn_plugin").GetProperty("first").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var ours = new double[first.Length];
        new PluginEstimator(16, false).EstimatePairs(z, pairs[..first.Length], ours);
        double maxDiff = first.Zip(ours, (a, b) => Math.Abs(a - b)).DefaultIfEmpty(0).Max();
        Console.WriteLine($"  check: max |ours - sklearn| plug-in on the first {first.Length} pairs = {maxDiff:E2}");
    }

    internal static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "LlmPruneFast.sln"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
