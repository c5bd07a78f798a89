using ILGPU.Runtime;
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
/// `kernels-verify` suite: every MI kernel against its plain C# reference on the chosen device, over awkward shapes
/// (S not a multiple of the group, N = 1..3, K &gt; M GEMMs, ties, a constant column). It carries the kernel tests to a
/// GPU machine where only the published single-file runner can go (no .NET SDK there):
///   LlmPruneFast.Perf kernels-verify [--device auto|cpu|cuda]
/// Prints one line per check with the largest deviation and PASS/FAIL; exit code 1 when any check fails.
/// </summary>
internal static class KernelVerifySuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["kernels-verify"] = Run;

    private static int _failures;

    public static int Run(string[] args)
    {
        var kind = args.Length == 2 && args[0] == "--device" ? Enum.Parse<MiAcceleratorKind>(args[1], ignoreCase: true) : MiAcceleratorKind.Auto;
        MiAccelerator acc;
        try
        {
            acc = MiAccelerator.Create(kind);
        }
        catch (AcceleratorUnavailableException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        using var owner = acc;
        Console.WriteLine($"# kernel verification on {acc.Description}{(acc.IsCuda ? $", cuBLAS {(acc.HasCuBlas ? "yes" : "no: " + acc.CuBlasUnavailableReason)}" : "")}");
        foreach (var (rows, cols) in new[] { (3, 1), (37, 2), (257, 3), (300, 9) })
        {
            var z = Matrix(rows, cols, rows + cols);
            using var device = DeviceColumns.FromColumnMajor(acc, z, rows, cols);
            var pairs = Pairs(cols);
            int bins = Math.Min(16, rows);
            if (bins >= 2)
            {
                using var binned = BinnedColumns.Create(acc, device, bins);
                Check($"codes S={rows} N={cols} B={bins}", Diff(binned.Codes.GetAsArray1D().Select(v => (double)v), PluginMiReference.Codes(z, rows, cols, bins).Select(v => (double)v)), 0);
                var mi = new double[pairs.Length];
                PluginMi.PairList(acc, binned, pairs, mi);
                Check($"plugin pairs S={rows} N={cols}", Diff(mi, pairs.Select(p => PluginMiReference.Pair(z, rows, cols, bins, p.Item1, p.Item2))), 1e-12);
                var expected = Dense(cols, (i, j) => PluginMiReference.Pair(z, rows, cols, bins, i, j));
                var histogram = new DenseTileCollector(cols);
                PluginMi.AllPairs(acc, binned, histogram.Sink, tile: 2);
                Check($"plugin all pairs S={rows} N={cols}", Diff(histogram.Matrix.Select(v => (double)v), expected), 1e-6);
                var gram = new DenseTileCollector(cols);
                OneHotGramMi.AllPairs(acc, binned, gram.Sink, tile: 2);
                Check($"plugin one-hot GEMM S={rows} N={cols}", Diff(gram.Matrix.Select(v => (double)v), expected), 1e-6);
            }
            if (rows > 3)
            {
                var std = Enumerable.Range(0, cols).Select(j => KsgMiReference.Std(z.AsSpan(j * rows, rows))).ToArray();
                using var scaled = KsgMi.ScaledColumns.Create(acc, device, std);
                var mi = new double[pairs.Length];
                KsgMi.PairList(acc, scaled, 3, pairs, mi);
                Check($"ksg k=3 S={rows} N={cols}", Diff(mi, pairs.Select(p => KsgMiReference.Pair(Col(z, rows, p.Item1), Col(z, rows, p.Item2), 3))), 1e-12);
            }
            var sigma = Enumerable.Range(0, cols).Select(j => 0.3 + 0.1 * j).ToArray();
            using (var marginals = RenyiAlpha2.Marginals.Compute(acc, device, sigma))
            {
                var mi = new double[pairs.Length];
                RenyiAlpha2.PairList(acc, device, marginals, pairs, mi);
                Check($"renyi2 S={rows} N={cols}", Diff(mi, pairs.Select(p => RenyiAlpha2Reference.Pair(Col(z, rows, p.Item1), Col(z, rows, p.Item2), sigma[p.Item1], sigma[p.Item2]))), 1e-10);
            }
            using (var scores = GaussianCopula.Scores.Create(acc, device))
            {
                var mi = new double[pairs.Length];
                GaussianCopula.PairList(acc, scores, pairs, mi);
                Check($"copula pairs S={rows} N={cols}", Diff(mi, pairs.Select(p => GaussianCopulaReference.Pair(Col(z, rows, p.Item1), Col(z, rows, p.Item2)))), 2e-6);
                var all = new DenseTileCollector(cols);
                GaussianCopula.AllPairs(acc, scores, all.Sink, tile: 2);
                Check($"copula all pairs S={rows} N={cols}", Diff(all.Matrix.Select(v => (double)v), Dense(cols, (i, j) => GaussianCopulaReference.Pair(Col(z, rows, i), Col(z, rows, j)))), 1e-5);
            }
        }
        foreach (var backend in acc.IsCuda ? [GemmBackend.TiledKernel, GemmBackend.CuBlas] : new[] { GemmBackend.TiledKernel })
        {
            if (backend == GemmBackend.CuBlas && !acc.HasCuBlas) continue;
            foreach (var (m, n, k) in new[] { (1, 1, 1), (2, 2, 6), (6, 2, 2), (5, 3, 17), (17, 31, 65) })
            {
                var random = new Random(m * 100 + n * 10 + k);
                var a = Enumerable.Range(0, m * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
                var b = Enumerable.Range(0, n * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
                using var da = acc.Accelerator.Allocate1D(a);
                using var db = acc.Accelerator.Allocate1D(b);
                using var dc = acc.Accelerator.Allocate1D<float>(m * n);
                GemmNT.Multiply(acc, da.View, db.View, dc.View, m, n, k, 0.5f, backend);
                Check($"gemm {backend} M={m} N={n} K={k}", Diff(dc.GetAsArray1D().Select(v => (double)v), GemmNTReference.Multiply(a, b, m, n, k, 0.5)), 1e-5);
            }
            // float64 with accumulation (beta = 1): the prune path's Gram matrices (covariance, copula correlation).
            foreach (var (m, n, k) in new[] { (1, 1, 1), (2, 2, 6), (6, 2, 2), (5, 3, 17), (17, 31, 65), (67, 67, 300) })
            {
                var random = new Random(m * 100 + n * 10 + k + 1);
                var a = Enumerable.Range(0, m * k).Select(_ => random.NextDouble() - 0.5).ToArray();
                var b = Enumerable.Range(0, n * k).Select(_ => random.NextDouble() - 0.5).ToArray();
                var c0 = Enumerable.Range(0, m * n).Select(_ => random.NextDouble() - 0.5).ToArray();
                using var da = acc.Accelerator.Allocate1D(a);
                using var db = acc.Accelerator.Allocate1D(b);
                using var dc = acc.Accelerator.Allocate1D(c0);
                GemmNT64.Multiply(acc, da.View, db.View, dc.View, m, n, k, 0.5, 1.0, backend);
                Check($"gemm64 {backend} M={m} N={n} K={k}", Diff(dc.GetAsArray1D(), GemmNT64Reference.Multiply(a, b, c0, m, n, k, 0.5, 1.0)), 1e-12);
                if (backend != GemmBackend.TiledKernel) continue;
                dc.CopyFromCPU(c0);
                GemmNT64.Multiply(acc, da.View, db.View, dc.View, m, n, k, 0.5, 1.0, GemmBackend.DirectKernel);
                Check($"gemm64 DirectKernel M={m} N={n} K={k}", Diff(dc.GetAsArray1D(), GemmNT64Reference.Multiply(a, b, c0, m, n, k, 0.5, 1.0)), 1e-12);
            }
        }
        Console.WriteLine(_failures == 0 ? "# all checks passed" : $"# {_failures} checks FAILED");
        return _failures == 0 ? 0 : 1;
    }

    private static void Check(string name, double deviation, double tolerance)
    {
        bool ok = deviation <= tolerance;
        if (!ok) _failures++;
        Console.WriteLine($"{(ok ? "PASS" : "FAIL")} {name,-40} max |device - reference| = {deviation:E2} (tolerance {tolerance:E0})");
    }

    private static double Diff(IEnumerable<double> actual, IEnumerable<double> expected) =>
        actual.Zip(expected, (a, e) => Math.Abs(a - e) / (1 + Math.Abs(e))).DefaultIfEmpty(0).Max();

    private static double[] Dense(int n, Func<int, int, double> f)
    {
        var m = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i * n + j] = i == j ? 0 : f(i, j);
        return m;
    }

    private static ReadOnlySpan<float> Col(float[] z, int rows, int j) => z.AsSpan(j * rows, rows);

    private static (int, int)[] Pairs(int n)
    {
        var list = new List<(int, int)>();
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) list.Add((i, j));
        return list.Count == 0 ? [(0, 0)] : [.. list];
    }

    /// <summary>Column-major: a dependence chain, column 1 rounded (ties), column 4 constant.</summary>
    private static float[] Matrix(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var z = new float[rows * cols];
        for (int c = 0; c < cols; c++)
            for (int s = 0; s < rows; s++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                double v = c == 0 ? g : 0.7 * z[(c - 1) * rows + s] + 0.7 * g;
                if (c == 1) v = Math.Round(v * 2) / 2;
                if (c == 4) v = 2.5;
                z[c * rows + s] = (float)v;
            }
        return z;
    }
}
