using System.Diagnostics;

namespace LlmPruneFast.Pruning;

/// <summary>
/// This machine's floating-point rate per thread, measured once per process by a short dgemm on OpenBLAS (512^3, best
/// of three, a few milliseconds), so that the plans' rough times follow the machine and its present load. A fixed
/// guess was 5x off on the 2-core box the 7B shape was measured on. Without OpenBLAS, 10 Gflop/s per thread.
/// </summary>
public static class MachineRate
{
    /// <summary>Per thread when OpenBLAS is absent: the managed loops' order of magnitude.</summary>
    public const double FallbackFlopsPerThread = 10e9;

    private static readonly Lazy<(double Flops, bool Measured)> Rate = new(Measure);

    /// <summary>Multiply-adds x 2 per second per thread.</summary>
    public static double FlopsPerThread => Rate.Value.Flops;

    /// <summary>"measured 46 Gflop/s per thread" or "10 Gflop/s per thread, not measured".</summary>
    public static string Describe() => Rate.Value.Measured
        ? $"at the measured {FlopsPerThread / 1e9:F0} Gflop/s per thread"
        : $"at {FlopsPerThread / 1e9:F0} Gflop/s per thread, not measured";

    private static (double, bool) Measure()
    {
        if (!NativeBlas.Available) return (FallbackFlopsPerThread, false);
        const int n = 512;
        var rng = new Random(1);
        var a = new double[n * n];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextDouble() - 0.5;
        var c = new double[n * n];
        double best = double.MaxValue;
        for (int rep = 0; rep < 3; rep++) // the first call also starts OpenBLAS's threads
        {
            var clock = Stopwatch.StartNew();
            NativeBlas.Gemm(false, false, n, n, n, 1.0, a, n, a, n, 0.0, c, n);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        // OpenBLAS uses every core unless --threads set fewer; per thread is what the plans scale by their thread count.
        return (2.0 * n * n * n / Math.Max(best, 1e-9) / Environment.ProcessorCount, true);
    }
}
