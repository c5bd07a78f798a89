using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlmPruneFast.Information;

namespace LlmPruneFast.Perf;

/// <summary>
/// `mi-single` suite: load-robust per-pair cost on ONE thread, ours against the single-threaded peer, both as the
/// minimum over repeats (the minimum is the run least disturbed by other processes). For each of P random pairs of a
/// layer-like matrix: ours = min over R timed batches of B copies of the pair through
/// <c>EstimatePairs</c> with <c>MaxDegreeOfParallelism = 1</c>, divided by B (the 2-column preparation is amortised
/// over B); the peer (perf/peers/mi_peer.py --single) times each call R times and keeps the minimum. Reported: mean
/// over the P pairs of those minima, in microseconds, and the ratio peer/ours. Options: --s S (repeatable), --pairs P,
/// --repeats R, --no-peer.
/// </summary>
internal static class MiSingleSuite
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        var sizes = new List<int>();
        int pairCount = 8, repeats = 7;
        bool peer = !args.Contains("--no-peer");
        for (int a = 0; a < args.Length - 1; a++)
        {
            if (args[a] == "--s") sizes.Add(int.Parse(args[a + 1], Inv));
            if (args[a] == "--pairs") pairCount = int.Parse(args[a + 1], Inv);
            if (args[a] == "--repeats") repeats = int.Parse(args[a + 1], Inv);
        }
        if (sizes.Count == 0) sizes.AddRange([1024, 4096]);
        string dir = Path.Combine(MiSuite.FindRoot(), "perf", "results-raw");
        Directory.CreateDirectory(dir);
        Console.WriteLine($"MI single-thread suite: min of {repeats} repeats per pair, {pairCount} pairs, {DateTime.UtcNow:u}");
        foreach (int s in sizes)
        {
            const int n = 64;
            var z = MiSuite.Layer(s, n, seed: s);
            var pairs = MiSuite.RandomPairs(n, pairCount, seed: 7);
            string data = Path.Combine(dir, $"mi_single_s{s}.f32"), pairsFile = Path.Combine(dir, $"mi_single_s{s}_pairs.txt");
            MiSuite.WriteRowMajor(z, data);
            File.WriteAllLines(pairsFile, pairs.Select(p => $"{p.I},{p.J}"));
            var plugin = new PluginEstimator(16, false) { MaxDegreeOfParallelism = 1 };
            var ksg = new KsgEstimator(3) { MaxDegreeOfParallelism = 1 };
            var (pluginUs, pluginCpuUs) = MinPerPairMicroseconds(plugin, z, pairs, 2048, repeats, out var pluginValues);
            var (ksgUs, ksgCpuUs) = MinPerPairMicroseconds(ksg, z, pairs, s <= 1024 ? 64 : 16, repeats, out var ksgValues);
            Console.WriteLine($"\n## S = {s}, one thread, per pair (min of repeats, mean over {pairCount} pairs; wall / process CPU time)");
            Console.WriteLine($"  ours plugin16 {pluginUs,10:F3} us wall {pluginCpuUs,10:F3} us CPU   ksg3 {ksgUs,10:F2} us wall {ksgCpuUs,10:F2} us CPU");
            if (!peer) continue;
            var p = RunPeer(data, s, n, pairsFile, repeats);
            if (p == null) continue;
            double Us(string name, string key) => p.Value.GetProperty(name).GetProperty(key).GetDouble();
            double h = Us("histogram2d", "us"), sp = Us("sklearn_plugin", "us"), sk = Us("sklearn_ksg", "us");
            double hc = Us("histogram2d", "cpu_us"), spc = Us("sklearn_plugin", "cpu_us"), skc = Us("sklearn_ksg", "cpu_us");
            Console.WriteLine($"  peer histogram2d {h,10:F1} us wall {hc,10:F1} us CPU   mutual_info_score {sp,10:F1} / {spc,10:F1}   sklearn KSG {sk,10:F1} / {skc,10:F1}");
            Console.WriteLine($"  ratio plugin16 vs histogram2d       {h / pluginUs,8:F1}x wall {hc / pluginCpuUs,8:F1}x CPU");
            Console.WriteLine($"  ratio plugin16 vs mutual_info_score {sp / pluginUs,8:F1}x wall {spc / pluginCpuUs,8:F1}x CPU");
            Console.WriteLine($"  ratio ksg3 vs sklearn KSG           {sk / ksgUs,8:F1}x wall {skc / ksgCpuUs,8:F1}x CPU");
            var peerPlugin = p.Value.GetProperty("sklearn_plugin").GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var peerKsg = p.Value.GetProperty("sklearn_ksg").GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Console.WriteLine($"  check: max |ours - sklearn| plug-in {peerPlugin.Zip(pluginValues, (a, b) => Math.Abs(a - b)).Max():E2}, " +
                              $"KSG {peerKsg.Zip(ksgValues, (a, b) => Math.Abs(a - b)).Max():E2} (KSG differs by scikit-learn's 1e-10 jitter only)");
        }
        return 0;
    }

    /// <summary>
    /// Mean over pairs of min over repeats of (time of one EstimatePairs call on <paramref name="copies"/> copies of the
    /// pair) / copies, as wall-clock and as process CPU time (user + sys by getrusage, microsecond resolution; CPU time
    /// does not count time spent waiting for a core, which wall-clock does on a loaded machine).
    /// </summary>
    private static (double Wall, double Cpu) MinPerPairMicroseconds(IMutualInformationEstimator est, ActivationMatrix z, (int I, int J)[] pairs,
        int copies, int repeats, out double[] values)
    {
        values = new double[pairs.Length];
        var r = new double[copies];
        double sum = 0, sumCpu = 0;
        for (int p = 0; p < pairs.Length; p++)
        {
            var batch = Enumerable.Repeat(pairs[p], copies).ToArray();
            // warm-up: long enough for tiered JIT to replace tier-0/OSR code by optimised code (~100 ms delay)
            var warm = Stopwatch.StartNew();
            do est.EstimatePairs(z, batch, r); while (p == 0 && warm.Elapsed.TotalSeconds < 0.5);
            values[p] = r[0];
            double best = double.PositiveInfinity, bestCpu = double.PositiveInfinity;
            for (int k = 0; k < repeats; k++)
            {
                double c0 = CpuSeconds();
                long t0 = Stopwatch.GetTimestamp();
                est.EstimatePairs(z, batch, r);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                bestCpu = Math.Min(bestCpu, CpuSeconds() - c0);
            }
            sum += best / copies * 1e6;
            sumCpu += bestCpu / copies * 1e6;
        }
        return (sum / pairs.Length, sumCpu / pairs.Length);
    }

    /// <summary>struct rusage on 64-bit Linux: two timevals then 14 longs (144 bytes); only the times are read.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 144)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
    }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    /// <summary>User + system CPU seconds of this process (getrusage RUSAGE_SELF on Linux; TotalProcessorTime elsewhere).</summary>
    internal static double CpuSeconds()
    {
        if (OperatingSystem.IsLinux() && GetRUsage(0, out var u) == 0)
            return u.UtimeSec + u.StimeSec + (u.UtimeUsec + u.StimeUsec) * 1e-6;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
    }

    private static JsonElement? RunPeer(string data, int s, int n, string pairs, int repeats)
    {
        string script = Path.Combine(MiSuite.FindRoot(), "perf", "peers", "run_mi_peer.sh");
        var result = Bench.RunPeer("bash", script, $"{data} {s.ToString(Inv)} {n.ToString(Inv)} {pairs} {"--single " + repeats.ToString(Inv)}", out string error);
        if (result == null) Console.WriteLine($"  peer failed: {error}");
        return result;
    }
}
