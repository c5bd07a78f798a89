using System.Diagnostics;
using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Perf;

/// <summary>
/// Pruning core timings on one synthetic layer (the MI matrix aside: a fixed random symmetric matrix stands in for
/// the estimator so only selection and compensation are timed). Layer: <see cref="SyntheticFfnLayer"/>
/// (Z = X A + 0.5 E, W_down Gaussian).
/// Usage: <c>pruning [--n N] [--d D] [--s S] [--ratio R]</c> (defaults 4096, 1024, 2048, 0.5).
/// </summary>
internal static class PruningSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["pruning"] = Run;

    public static int Run(string[] args)
    {
        int n = Arg(args, "--n", 4096), d = Arg(args, "--d", 1024), s = Arg(args, "--s", 2048);
        double ratio = args.SkipWhile(a => a != "--ratio").Skip(1).Select(double.Parse).FirstOrDefault(0.5);
        Console.WriteLine($"pruning: one layer N={n}, D={d}, S={s}, ratio {ratio}, {Environment.ProcessorCount} cores");
        var (layer, act) = SyntheticFfnLayer.Create(n, d, s);
        var rng = new Random(2); // the stand-in MI matrix
        var mi = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) mi[(long)i * n + j] = mi[(long)j * n + i] = rng.NextDouble();
        var info = new FixedInformation(mi, n);
        int removals = (int)Math.Round(ratio * n);

        var sw = Stopwatch.StartNew();
        var inputs = new LayerInputs(layer, act, info);
        Report("statistics (means, variances)", sw);
        inputs.Statistics.Covariance();
        Report("covariance N x N", sw);
        foreach (var method in new[] { "flap", "mi-greedy", "mi-weighted", "mi-cluster", "obs" })
        {
            var selector = PruningSelectors.Create(method, method == "mi-weighted" ? new PlanParameters().Set("debias", false) : null);
            sw.Restart();
            var order = selector.Select(new SelectionRequest(inputs, removals, 1, null, default));
            Report($"select {method} ({order.Count} removals)", sw);
        }
        var plan = new LayerPlan(0, Enumerable.Range(0, n).Where(j => j % 2 == 1 || j >= 2 * removals).ToArray(),
            Enumerable.Range(0, removals).Select(i => new RemovedNeuron(2 * i, null, null, 0, "perf")).ToArray());
        foreach (var kind in new[] { CompensationKind.Bias, CompensationKind.Partner, CompensationKind.Refit })
        {
            sw.Restart();
            Compensator.Apply(layer, plan, new CompensationOptions(kind), inputs.Statistics);
            Report($"compensate {CompensationKinds.Name(kind)}", sw);
        }
        return 0;
    }

    private static void Report(string what, Stopwatch sw) => Console.WriteLine($"  {what,-40} {sw.Elapsed.TotalSeconds,8:F2} s");

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    private sealed class FixedInformation(double[] m, int n) : IPairInformation, ILayerInformation
    {
        public string Name => "fixed-random";
        public PlanParameters Parameters => new();
        public ILayerInformation Prepare(LayerActivations activations, CancellationToken ct) => this;
        public int Neurons => n;
        public double Pair(int i, int j) => m[(long)i * n + j];
        public double[] AllPairs(IProgress<double>? progress, CancellationToken ct) => m;
        public double[] NullSamples(int count, int seed, CancellationToken ct) => new double[count];
    }
}
