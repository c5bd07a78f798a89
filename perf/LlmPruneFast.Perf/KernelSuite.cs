using System.Diagnostics;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Copula;
using LlmPruneFast.Kernels.Gemm;
using LlmPruneFast.Kernels.Ksg;
using LlmPruneFast.Kernels.Plugin;
using LlmPruneFast.Kernels.Renyi;

namespace LlmPruneFast.Perf;

/// <summary>
/// `kernels` suite (registered from <see cref="KernelSuite"/>): throughput of the ILGPU MI kernels.
///   LlmPruneFast.Perf kernels [--device auto|cpu|cuda] [--min-seconds T] [--allpairs N1,N2,..] [--pair-columns N] [--cpu-group G] [--onehot|--no-onehot] [--gram-n N]
/// Prints, per kernel, pairs/s of the pair-list kernels at S = 1024 and 4096 (per-column preparation timed apart),
/// and the all-pairs time of a layer at S = 2048 (plug-in B = 16 by histogram tiles and by one-hot GEMM, copula by
/// GEMM). Default all-pairs sizes: N = 1024, 4096, 11008 on CUDA; on the CPU accelerator N = 32, 64 measured and
/// the larger N extrapolated as time * (N / N_measured)^2 (all-pairs work is quadratic in N), marked "extrap".
/// Then the prune path's float64 Gram (<see cref="GramSection"/>): the covariance of S = 2048 rows at N = 11008 on
/// CUDA (256 on the CPU accelerator; --gram-n sets it), DGEMM alone per backend and end to end through
/// <see cref="Pruning.LayerStatistics"/> with the Gram device, against OpenBLAS where it loads.
/// Data: seeded Gaussian columns with a dependence chain. Times are wall clock, after a warm-up run on tiny data (kernel compile).
/// </summary>
internal static class KernelSuite
{
    /// <summary>Registers the suite (a module initializer: partial <c>Suites</c> can hold only one static constructor).</summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["kernels"] = Run;

    public static int Run(string[] args)
    {
        var kind = MiAcceleratorKind.Auto;
        double minSeconds = 1.0;
        int pairColumns = 64;
        int[]? allPairsSizes = null;
        int cpuGroup = 16;
        bool? oneHot = null;
        int? gramN = null;
        for (int a = 0; a < args.Length; a++)
        {
            switch (args[a])
            {
                case "--device": kind = Enum.Parse<MiAcceleratorKind>(args[++a], ignoreCase: true); break;
                case "--min-seconds": minSeconds = double.Parse(args[++a], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--pair-columns": pairColumns = int.Parse(args[++a]); break;
                case "--cpu-group": cpuGroup = int.Parse(args[++a]); break;
                case "--onehot": oneHot = true; break;
                case "--no-onehot": oneHot = false; break;
                case "--allpairs": allPairsSizes = args[++a].Split(',').Select(int.Parse).ToArray(); break;
                case "--gram-n": gramN = int.Parse(args[++a]); break;
                default: Console.Error.WriteLine($"kernels: unknown option {args[a]}"); return 2;
            }
        }
        MiAccelerator accelerator;
        try
        {
            accelerator = MiAccelerator.Create(kind, cpuGroup);
        }
        catch (AcceleratorUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        using var owner = accelerator;
        Console.WriteLine($"# MI kernels on {accelerator.Description}; {Environment.ProcessorCount} CPU cores; min {minSeconds} s per figure");
        if (accelerator.IsCuda)
            Console.WriteLine($"# GEMM: {(accelerator.HasCuBlas ? "cuBLAS" : "tiled kernel (cuBLAS unavailable: " + accelerator.CuBlasUnavailableReason + ")")}");
        allPairsSizes ??= accelerator.IsCuda ? [1024, 4096, 11008] : [32, 64];

        Console.WriteLine("## pair lists (pairs/s; prep = per-column work for all columns)");
        Console.WriteLine($"{"kernel",-22} {"S",6} {"N",6} {"prep ms",10} {"pairs",10} {"seconds",9} {"pairs/s",12}");
        foreach (int rows in new[] { 1024, 4096 })
        {
            var z = Data(rows, pairColumns, seed: rows);
            using var device = DeviceColumns.FromColumnMajor(accelerator, z, rows, pairColumns);
            var prep = Stopwatch.StartNew();
            using var binned = BinnedColumns.Create(accelerator, device, 16);
            double binMs = prep.Elapsed.TotalMilliseconds;
            PairRate("plugin B=16", rows, pairColumns, binMs, minSeconds, (p, r) => PluginMi.PairList(accelerator, binned, p, r));
            prep.Restart();
            using var scaled = KsgMi.ScaledColumns.Create(accelerator, device);
            double ksgMs = prep.Elapsed.TotalMilliseconds;
            PairRate("ksg k=3", rows, pairColumns, ksgMs, minSeconds, (p, r) => KsgMi.PairList(accelerator, scaled, 3, p, r));
            prep.Restart();
            using var marginals = RenyiAlpha2.Marginals.Compute(accelerator, device, Enumerable.Repeat(0.3, pairColumns).ToArray());
            double renyiMs = prep.Elapsed.TotalMilliseconds;
            PairRate("renyi alpha=2", rows, pairColumns, renyiMs, minSeconds, (p, r) => RenyiAlpha2.PairList(accelerator, device, marginals, p, r));
            prep.Restart();
            using var scores = GaussianCopula.Scores.Create(accelerator, device);
            double copulaMs = prep.Elapsed.TotalMilliseconds;
            PairRate("copula", rows, pairColumns, copulaMs, minSeconds, (p, r) => GaussianCopula.PairList(accelerator, scores, p, r));
        }

        Console.WriteLine("## all pairs of a layer, S = 2048 (seconds, including per-column preparation and tile download)");
        Console.WriteLine($"{"method",-26} {"N",6} {"seconds",10} {"pairs/s",14} note");
        const int allRows = 2048;
        var measured = new Dictionary<string, (int N, double Seconds)>();
        var methods = new (string Name, Action<DeviceColumns> Run)[]
        {
            ("plugin B=16 histogram", d => { using var b = BinnedColumns.Create(accelerator, d, 16); PluginMi.AllPairs(accelerator, b, Discard); }),
            ("plugin B=16 one-hot GEMM", d => { using var b = BinnedColumns.Create(accelerator, d, 16); OneHotGramMi.AllPairs(accelerator, b, Discard); }),
            ("copula GEMM", d => { using var sc = GaussianCopula.Scores.Create(accelerator, d); GaussianCopula.AllPairs(accelerator, sc, Discard); }),
        };
        using (var warm = DeviceColumns.FromColumnMajor(accelerator, Data(64, 8, 1), 64, 8))
            foreach (var (_, run) in methods) run(warm); // compile every kernel before timing (tiny: one-hot included)
        foreach (int n in allPairsSizes)
        {
            var z = Data(allRows, n, seed: n);
            using var device = DeviceColumns.FromColumnMajor(accelerator, z, allRows, n);
            foreach (var (name, run) in methods)
            {
                // The one-hot GEMM does B^2 times the histogram's work: off on the CPU accelerator unless --onehot.
                if (name.Contains("one-hot") && !(oneHot ?? accelerator.IsCuda)) continue;
                var watch = Stopwatch.StartNew();
                run(device);
                Report(name, n, measured, watch.Elapsed.TotalSeconds);
            }
        }
        if (!accelerator.IsCuda)
            foreach (var (method, (n0, seconds)) in measured)
                foreach (int n in new[] { 1024, 4096, 11008 })
                    if (n > n0)
                    {
                        double t = seconds * Math.Pow((double)n / n0, 2);
                        Console.WriteLine($"{method,-26} {n,6} {t,10:F1} {PairsOf(n) / t,14:N0} extrap from N={n0}");
                    }
        GramSection(accelerator, gramN ?? (accelerator.IsCuda ? 11008 : 256), cpuGroup);
        return 0;
    }

    /// <summary>
    /// The covariance of Z [S x N], S = 2048, in float64 (2 S N^2 flops as a GEMM): GemmNT64 alone on device-resident
    /// data, per backend, then end to end (centring, transposition, upload in blocks, GEMM, download, mirror) through
    /// <see cref="Pruning.LayerStatistics.Covariance"/> on an <see cref="Pruning.IlgpuGramDevice"/>, and on OpenBLAS.
    /// </summary>
    private static void GramSection(MiAccelerator accelerator, int n, int cpuGroup)
    {
        const int s = 2048;
        double flops = 2.0 * s * n * n;
        Console.WriteLine($"## float64 Gram, the prune path's covariance, S = {s} (GFLOP/s counts 2 S N^2)");
        Console.WriteLine($"{"path",-34} {"N",6} {"seconds",10} {"GFLOP/s",10}");
        var random = new Random(11);
        var a = new double[(long)n * s];
        for (long i = 0; i < a.Length; i++) a[i] = random.NextDouble() - 0.5;
        var backends = accelerator.IsCuda ? new[] { GemmBackend.CuBlas, GemmBackend.TiledKernel } : new[] { GemmBackend.DirectKernel };   // the tiled kernel's barriers crawl on the CPU accelerator
        using (var da = accelerator.Accelerator.Allocate1D<double>(a.LongLength))
        using (var dc = accelerator.Accelerator.Allocate1D<double>((long)n * n))
        {
            da.Upload(a);
            foreach (var backend in backends)
            {
                if (backend == GemmBackend.CuBlas && !accelerator.HasCuBlas) { Console.WriteLine($"{"gemm64 cuBLAS",-34} {n,6} {"n/a",10} {"",10} ({accelerator.CuBlasUnavailableReason})"); continue; }
                GemmNT64.Multiply(accelerator, da.View, da.View, dc.View, Math.Min(n, 8), Math.Min(n, 8), s, 1, 0, backend); // compile
                var watch = Stopwatch.StartNew();
                GemmNT64.Multiply(accelerator, da.View, da.View, dc.View, n, n, s, 1, 0, backend);
                double t = watch.Elapsed.TotalSeconds;
                Console.WriteLine($"{"gemm64 " + backend,-34} {n,6} {t,10:F3} {flops / t / 1e9,10:F1}");
            }
        }
        var z = new float[(long)s * n];
        for (long i = 0; i < z.Length; i++) z[i] = (float)(1 + random.NextDouble());
        var activations = new Capture.LayerActivations(0, s, n, z);
        // The device the prune path uses: a backend of the same kind (its own context) with the default 256 MB blocks.
        using var backend2 = new Information.IlgpuMiBackend(accelerator.Kind, cpuGroup);
        var gram = new Pruning.IlgpuGramDevice(backend2);
        new Pruning.LayerStatistics(new Capture.LayerActivations(0, 64, 8, z.AsMemory(0, 64 * 8)), gram).Covariance(); // compile
        var clock = Stopwatch.StartNew();
        var device = new Pruning.LayerStatistics(activations, gram).Covariance();
        double td = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{"covariance end to end, " + gram.Name,-34} {n,6} {td,10:F3} {flops / td / 1e9,10:F1}");
        if (!Pruning.NativeBlas.Available) { Console.WriteLine($"{"covariance end to end, OpenBLAS",-34} {n,6} {"n/a",10} {"",10} ({Pruning.NativeBlas.Unavailable})"); return; }
        clock.Restart();
        var cpu = new Pruning.LayerStatistics(activations).Covariance();
        double tc = clock.Elapsed.TotalSeconds;
        double scale = 0, worst = 0;
        for (long i = 0; i < cpu.Length; i++) { scale = Math.Max(scale, Math.Abs(cpu[i])); worst = Math.Max(worst, Math.Abs(device[i] - cpu[i])); }
        Console.WriteLine($"{"covariance end to end, OpenBLAS",-34} {n,6} {tc,10:F3} {flops / 2 / tc / 1e9,10:F1}  (dsyrk: half the flops; {Environment.ProcessorCount} cores)");
        Console.WriteLine($"# covariance device vs OpenBLAS: max |difference| / max |C| = {worst / scale:E2}");
    }

    private static void Discard(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile) { }

    private static long PairsOf(int n) => (long)n * (n - 1) / 2;

    private static void Report(string method, int n, Dictionary<string, (int, double)> measured, double seconds)
    {
        measured[method] = (n, seconds);
        Console.WriteLine($"{method,-26} {n,6} {seconds,10:F3} {PairsOf(n) / seconds,14:N0} measured");
    }

    /// <summary>Doubles the pair count until one batch takes at least minSeconds; prints the rate of that batch.</summary>
    private static void PairRate(string name, int rows, int columns, double prepMs, double minSeconds, Action<(int, int)[], double[]> run)
    {
        var random = new Random(42);
        int count = 1;
        run(RandomPairs(random, columns, 1), new double[1]); // warm-up: compile
        while (true)
        {
            var pairs = RandomPairs(random, columns, count);
            var result = new double[count];
            var watch = Stopwatch.StartNew();
            run(pairs, result);
            double seconds = watch.Elapsed.TotalSeconds;
            if (seconds >= minSeconds || count >= 1 << 22)
            {
                Console.WriteLine($"{name,-22} {rows,6} {columns,6} {prepMs,10:F1} {count,10} {seconds,9:F3} {count / seconds,12:N0}");
                return;
            }
            count = (int)Math.Min(1 << 22, Math.Max(count * 2L, (long)(count * minSeconds / Math.Max(seconds, 1e-4) * 1.2)));
        }
    }

    private static (int, int)[] RandomPairs(Random random, int columns, int count)
    {
        var pairs = new (int, int)[count];
        for (int p = 0; p < count; p++)
        {
            int i = random.Next(columns), j = random.Next(columns - 1);
            pairs[p] = (i, j >= i ? j + 1 : j);
        }
        return pairs;
    }

    /// <summary>Column-major S x N: column 0 Gaussian, column c mixes column c-1 with fresh noise.</summary>
    private static float[] Data(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var z = new float[(long)rows * columns];
        for (int c = 0; c < columns; c++)
            for (int s = 0; s < rows; s++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                z[(long)c * rows + s] = (float)(c == 0 ? g : 0.6 * z[(long)(c - 1) * rows + s] + 0.8 * g);
            }
        return z;
    }
}
