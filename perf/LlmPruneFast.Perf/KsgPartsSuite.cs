using System.Globalization;
using LlmPruneFast.Information;

namespace LlmPruneFast.Perf;

/// <summary>
/// `ksg-parts` suite: KSG (k = 3 unless --k) on the files `mi-pairs` wrote (perf/results-raw/mi_pairs_*_s*.f32 and their
/// pair lists), one core, in process: the whole EstimatePairs call (column preparation included, as `mi-pairs` times
/// it) and the column preparation alone, each the minimum of --calls calls of process CPU time, and a hash of the
/// values' bits, so that a change can be checked for identical values and timed in seconds rather than in a full
/// interleaved run against the peers. Options: --calls N (default 40), --k K, --files SUBSTRING.
/// </summary>
internal static class KsgPartsSuite
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["ksg-parts"] = Run;

    public static int Run(string[] args)
    {
        int calls = Bench.Arg(args, "--calls", 40), k = Bench.Arg(args, "--k", 3);
        string filter = Bench.StringArg(args, "--files") ?? "";
        string dir = Path.Combine(MiSuite.FindRoot(), "perf", "results-raw");
        var files = Directory.Exists(dir)
            ? Directory.GetFiles(dir, "mi_pairs_*_s*.f32").Where(f => !f.Contains("copula") && f.Contains(filter)).Order().ToArray()
            : [];
        if (files.Length == 0) { Console.Error.WriteLine($"no mi_pairs_*_s*.f32 in {dir}: run `mi-pairs` once first"); return 1; }
        Console.WriteLine($"ksg-parts: k = {k}, min of {calls} calls (process CPU time), Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, {DateTime.UtcNow:u}; {Bench.Uptime()}");
        var est = new KsgEstimator(k) { MaxDegreeOfParallelism = 1 };
        foreach (string f in files)
        {
            string name = Path.GetFileNameWithoutExtension(f);
            int s = int.Parse(name[(name.LastIndexOf("_s", StringComparison.Ordinal) + 2)..], Inv);
            var pairs = File.ReadAllLines(Path.Combine(dir, name + "_pairs.txt")).Where(l => l.Length > 0)
                .Select(l => l.Split(',')).Select(p => (int.Parse(p[0], Inv), int.Parse(p[1], Inv))).ToArray();
            var raw = File.ReadAllBytes(f);
            int n = raw.Length / 4 / s;
            var z = ActivationMatrix.FromRowMajor(s, n, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw));
            var result = new double[pairs.Length];
            var warm = System.Diagnostics.Stopwatch.StartNew();
            do est.EstimatePairs(z, pairs, result); while (warm.Elapsed.TotalSeconds < 0.3);
            double call = MinCpu(() => est.EstimatePairs(z, pairs, result), calls);
            double prep = MinCpu(() => { for (int j = 0; j < n; j++) est.Prepare(z.Column(j)); }, calls);
            ulong hash = 1469598103934665603ul;
            foreach (double v in result) hash = (hash ^ (ulong)BitConverter.DoubleToInt64Bits(v)) * 1099511628211ul;
            Console.WriteLine($"  {name,-36} S = {s,5}, {n,3} columns, {pairs.Length} pairs: {call / pairs.Length * 1e6,8:F1} us/pair all in, " +
                              $"column preparation {prep / pairs.Length * 1e6,6:F1} us/pair ({prep / n * 1e6:F1} us/column); values hash {hash:X16}, sum {result.Sum():R}");
        }
        Console.WriteLine($"  {Bench.Uptime()}");
        return 0;
    }

    private static double MinCpu(Action action, int calls)
    {
        double best = double.PositiveInfinity;
        for (int c = 0; c < calls; c++)
        {
            double c0 = MiSingleSuite.CpuSeconds();
            action();
            best = Math.Min(best, MiSingleSuite.CpuSeconds() - c0);
        }
        return best;
    }
}
