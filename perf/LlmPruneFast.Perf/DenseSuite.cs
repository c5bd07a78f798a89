using System.Diagnostics;
using System.Globalization;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Perf;

/// <summary>
/// Dense linear algebra of the pruning core on one synthetic layer, on OpenBLAS or (with <c>--managed</c>, which
/// sets LLMPRUNE_BLAS=managed before the library loads) on the managed loops: Cholesky inverse of the damped
/// covariance, the covariance itself, obs and mi-conditional selection (covariance precomputed), and the ridge refit.
/// dgemm N x N x N gives the machine's float64 rate as the physical reference: seconds at that rate are printed next
/// to each operation's flop count. Layer: <see cref="SyntheticFfnLayer"/> (Z = X A + 0.5 E).
/// Usage: <c>dense [--n N] [--s S] [--d D] [--ratio R] [--only inverse,covariance,obs,mi-conditional,refit,dgemm] [--managed]</c>
/// (defaults 2048, 8192, 3N/8, 0.3, all).
/// </summary>
internal static class DenseSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["dense"] = Run;

    public static int Run(string[] args)
    {
        bool managed = args.Contains("--managed");
        if (managed) Environment.SetEnvironmentVariable("LLMPRUNE_BLAS", "managed");   // read once, when NativeBlas first loads
        int n = Bench.Arg(args, "--n", 2048), s = Bench.Arg(args, "--s", 8192), d = Bench.Arg(args, "--d", Math.Max(64, 3 * n / 8));
        double ratio = double.Parse(Bench.StringArg(args, "--ratio") ?? "0.3", CultureInfo.InvariantCulture);
        var only = (Bench.StringArg(args, "--only") ?? "inverse,covariance,obs,mi-conditional,refit,dgemm").Split(',').ToHashSet();
        bool native = NativeBlas.Use();
        Console.WriteLine($"dense: N={n}, S={s}, D={d}, ratio {ratio}, {(native ? "OpenBLAS" : "managed")} ({Environment.ProcessorCount} cores); {Bench.Uptime()}");

        double gflops = double.NaN;
        if (only.Contains("dgemm") && native)
        {
            var a = Random(n * n, 1); var b = Random(n * n, 2); var c = new double[(long)n * n];
            double sec = Bench.MedianSeconds(() => NativeBlas.Gemm(false, false, n, n, n, 1.0, a, n, b, n, 0.0, c, n), 1, 3);
            gflops = 2.0 * n * n * n / sec / 1e9;
            Report("dgemm N x N x N", sec, 2.0 * n * n * n, gflops);
        }

        var (layer, act) = SyntheticFfnLayer.Create(n, d, s);
        var inputs = new LayerInputs(layer, act, null);
        var stats = inputs.Statistics;
        var sw = Stopwatch.StartNew();
        stats.Covariance();
        double covSec = sw.Elapsed.TotalSeconds;
        if (only.Contains("covariance")) Report("covariance (S x N -> N x N)", covSec, (double)s * n * n, gflops);

        if (only.Contains("inverse"))
        {
            var h = stats.Covariance().ToArray();
            double tr = 0;
            for (int i = 0; i < n; i++) tr += h[(long)i * n + i];
            for (int i = 0; i < n; i++) h[(long)i * n + i] += 0.01 * tr / n;
            sw.Restart();
            DenseMath.InverseSpd(h, n, "perf");
            Report("inverse SPD (Cholesky)", sw.Elapsed.TotalSeconds, (double)n * n * n, gflops);
        }

        int removals = (int)Math.Round(ratio * n);
        IReadOnlyList<RemovedNeuron>? order = null;
        foreach (var method in new[] { "obs", "mi-conditional" })
        {
            if (!only.Contains(method) && !(method == "obs" && only.Contains("refit"))) continue;
            var selector = PruningSelectors.Create(method, null);
            sw.Restart();
            var chosen = selector.Select(new SelectionRequest(inputs, removals, 1, null, default));
            if (method == "obs") order = chosen;
            if (only.Contains(method)) Report($"select {method} ({removals} removals)", sw.Elapsed.TotalSeconds, (double)n * n * n + 2.0 * d * n * n / 2, gflops);
        }
        if (only.Contains("refit") && order != null)
        {
            var removedSet = order.Select(r => r.Neuron).ToHashSet();
            var plan = new LayerPlan(0, Enumerable.Range(0, n).Where(j => !removedSet.Contains(j)).ToArray(), order.ToArray());
            sw.Restart();
            Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Refit), stats);
            int nk = n - removals;
            Report("refit (Cholesky, solve, update)", sw.Elapsed.TotalSeconds, (double)nk * nk * nk / 3 + 2.0 * nk * nk * removals + 2.0 * d * nk * removals, gflops);
        }
        return 0;
    }

    /// <summary>One line: seconds, flops, and the seconds those flops take at the measured dgemm rate.</summary>
    private static void Report(string what, double seconds, double flops, double gflops)
    {
        string limit = double.IsNaN(gflops) ? "" : $"  (at dgemm rate {flops / gflops / 1e9,7:F3} s; {flops / seconds / 1e9,6:F1} GFLOP/s)";
        Console.WriteLine($"  {what,-34} {seconds,9:F3} s{limit}");
    }

    private static double[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        var x = new double[count];
        for (int i = 0; i < count; i++) x[i] = rng.NextDouble() - 0.5;
        return x;
    }
}
