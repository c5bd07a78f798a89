using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using LlmPruneFast.Information;

namespace LlmPruneFast.Perf;

/// <summary>
/// `plugin-parts`: the plug-in estimator alone, on mi-pairs' data (the same 16 columns and 120 shuffled distinct pairs
/// of stories260K layer 2 and the synthetic wide layer), without the peer: thread CPU time of EstimatePairs (the
/// figure mi-pairs times), of the binning of the 16 columns alone, and of EstimateAllPairs over the whole stories260K
/// layer (each column in N-1 pairs; with --minilm also all-MiniLM-L6-v2's FFN layer 2, 172 of its columns) and of
/// EstimatePairs over the same pairs as one shuffled list, min over many calls; FNV-1a hashes of the bin codes and of the MI values, so a
/// change can be checked to leave every value bit-identical. Options: --s S (repeatable), --calls K, --no-bin-order
/// (the histogram path, for A/B), --pieces (per-call costs apart), --binning-pieces (the binning's phases apart, and a hash of the bin-order
/// layout), --cold (also one call after evicting the caches, as
/// mi-pairs times it after the peer's process), --sleep (with --cold: 20 ms idle before each such call).
/// </summary>
internal static class PluginPartsSuite
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["plugin-parts"] = Run;

    [DllImport("libc")]
    private static extern int clock_gettime(int clock, out TimeSpec t);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec, Nsec; }

    /// <summary>CPU seconds of the calling thread (CLOCK_THREAD_CPUTIME_ID), ns resolution.</summary>
    private static double ThreadCpu() => clock_gettime(3, out var t) == 0 ? t.Sec + t.Nsec * 1e-9 : double.NaN;

    public static int Run(string[] args)
    {
        var sizes = new List<int>();
        for (int a = 0; a < args.Length - 1; a++) if (args[a] == "--s") sizes.Add(int.Parse(args[a + 1], Inv));
        if (sizes.Count == 0) sizes.AddRange([1024, 4096]);
        int calls = Bench.Arg(args, "--calls", 200);
        Console.WriteLine($"plugin-parts: Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, {DateTime.UtcNow:u}, {Bench.Uptime()}");
        var real = MiPairsSuite.Stories260KLayer(args, sizes.Max(), layer: 2);
        var encoder = args.Contains("--minilm") ? MiPairsSuite.MiniLmLayer(args, sizes.Max(), layer: 2) : null;
        var est = new PluginEstimator(16, false) { MaxDegreeOfParallelism = 1, UseBinOrder = !args.Contains("--no-bin-order") };
        foreach (int s in sizes)
        {
            var sets = new List<(string Name, ActivationMatrix Z)>();
            if (real != null) sets.Add(("stories260K L2", MiPairsSuite.FirstRows(real, s)));
            sets.Add(("synthetic wide", MiSuite.Layer(s, 1024, seed: s)));
            foreach (var (name, layer) in sets)
            {
                var (z, pairs) = MiPairsSuite.PairSet(layer, 120, seed: 11);
                var values = new double[pairs.Length];
                var codes = new byte[z.Columns][];
                for (int j = 0; j < z.Columns; j++) codes[j] = new byte[s];
                double pairsBest = Min(calls, () => est.EstimatePairs(z, pairs, values));
                if (args.Contains("--cold"))
                {
                    if (args.Contains("--sleep")) Flush = () => { FlushCaches(); Thread.Sleep(20); };
                    // one call after the caches are flushed (as mi-pairs times a call right after the peer's process)
                    double coldBest = Min(Math.Max(3, calls / 10), () => est.EstimatePairs(z, pairs, values), Flush);
                    double coldBins = Min(Math.Max(3, calls / 10), () => { for (int j = 0; j < z.Columns; j++) EqualFrequencyBins.Compute(z.Column(j), 16, codes[j]); }, Flush);
                    Console.WriteLine($"  cold (caches flushed before each call): EstimatePairs {coldBest / pairs.Length * 1e6:F3} us/pair ({coldBest * 1e6:F1} us/call); binning {coldBins / z.Columns * 1e6:F3} us/column");
                }
                // the pair part alone: the list 9 more times over (the same columns prepared once), per extra pair
                var longList = Enumerable.Repeat(pairs, 10).SelectMany(p => p).ToArray();
                var longValues = new double[longList.Length];
                double longBest = Min(Math.Max(3, calls / 5), () => est.EstimatePairs(z, longList, longValues));
                double pairPart = (longBest - pairsBest) / (longList.Length - pairs.Length);
                // every column once: (0,1), (2,3), ...: column preparation and per-call costs, with few pairs
                var cover = Enumerable.Range(0, z.Columns / 2).Select(k => (2 * k, 2 * k + 1)).ToArray();
                double coverBest = Min(calls, () => est.EstimatePairs(z, cover, longValues));
                double binBest = Min(calls, () => { for (int j = 0; j < z.Columns; j++) EqualFrequencyBins.Compute(z.Column(j), 16, codes[j]); });
                if (args.Contains("--pieces"))
                {
                    double fin = Min(calls, () => z.EnsureFinite());
                    double tab = Min(calls, () => { for (int j = 0; j < z.Columns; j++) FixedCLogC.For(s); });
                    double alloc = Min(calls, () => { for (int j = 0; j < z.Columns; j++) { _ = new byte[s]; _ = new byte[s]; _ = new byte[s]; _ = new byte[s]; } });
                    double one = Min(calls, () => est.EstimatePairs(z, cover.AsSpan(0, 1), longValues));
                    string layout = "";
                    if (BinOrder.Applies(s, 16))
                    {
                        var orders = new BinOrder[z.Columns];
                        double make = Min(calls, () => { for (int j = 0; j < z.Columns; j++) orders[j] = new BinOrder(s, 16); });
                        double fill = Min(calls, () => { for (int j = 0; j < z.Columns; j++) EqualFrequencyBins.Compute(z.Column(j), 16, orders[j].Codes, default, orders[j].Low, orders[j].High); });
                        double pack = Min(calls, () => { for (int j = 0; j < z.Columns; j++) orders[j].PackCodes(); });
                        layout = $", new BinOrder x{z.Columns} {make * 1e6:F2} us, binning with the layout x{z.Columns} {fill * 1e6:F2} us, PackCodes x{z.Columns} {pack * 1e6:F2} us";
                    }
                    Console.WriteLine($"  pieces: EnsureFinite {fin * 1e6:F2} us, FixedCLogC.For x{z.Columns} {tab * 1e6:F2} us, 4 x{z.Columns} byte[S] {alloc * 1e6:F2} us, one pair {one * 1e6:F2} us{layout}");
                }
                if (args.Contains("--binning-pieces") && BinOrder.Applies(s, 16)) BinningPieces(z, calls);
                ulong codeHash = Fnv.Seed;
                foreach (var c in codes) codeHash = Fnv.Add(codeHash, c);
                Console.WriteLine($"{name,-15} S={s,5}: EstimatePairs {pairsBest / pairs.Length * 1e6,6:F3} us/pair CPU ({pairsBest * 1e6,7:F1} us/call); " +
                                  $"binning {binBest / z.Columns * 1e6,6:F3} us/column ({binBest / pairs.Length * 1e6:F3} us/pair); " +
                                  $"rest {(pairsBest - binBest) / pairs.Length * 1e6,6:F3} us/pair, of which pairs {pairPart * 1e6,6:F3}; call with {cover.Length} pairs {coverBest * 1e6,6:F1} us = binning + {(coverBest - binBest - cover.Length * pairPart) * 1e6,5:F1} us; codes {codeHash:x16} values {Fnv.Add(Fnv.Seed, MemoryMarshal.AsBytes(values.AsSpan())):x16}");
            }
            if (real != null) WholeLayer("stories260K L2", MiPairsSuite.FirstRows(real, s), est, calls);
            if (encoder != null) WholeLayer("MiniLM L2", MiPairsSuite.FirstRows(encoder, s), est, calls, args.Contains("--binning-pieces"));
        }
        return 0;
    }

    /// <summary>
    /// The whole-layer lines: EstimateAllPairs over all pairs of 172 columns (the layer's own when it has 172, else the
    /// 172 mi-pairs --pairs 14706 draws), the same pairs as one shuffled EstimatePairs list, the binning alone and the
    /// kernel alone.
    /// </summary>
    private static void WholeLayer(string name, ActivationMatrix z, PluginEstimator est, int calls, bool pieces = false)
    {
        int s = z.Rows;
        var (zs, shuffled) = MiPairsSuite.PairSet(z, 172 * 171 / 2, seed: 11);
        var all = z.Columns == 172 ? z : zs;
        var sink = new HashSink(all.Columns);
        long pairCount = (long)all.Columns * (all.Columns - 1) / 2;
        double allBest = Min(Math.Max(3, calls / 50), () => est.EstimateAllPairs(all, sink));
        Console.WriteLine($"{name,-15} S={s,5}: EstimateAllPairs, all {pairCount} pairs of N = {all.Columns}: {allBest / pairCount * 1e6,6:F3} us/pair CPU; values {sink.Hash():x16}");
        var shuffledValues = new double[shuffled.Length];
        double list = Min(Math.Max(3, calls / 20), () => est.EstimatePairs(zs, shuffled, shuffledValues));
        var everyColumn = Enumerable.Range(0, zs.Columns / 2).Select(k => (2 * k, 2 * k + 1)).ToArray();
        double cover = Min(Math.Max(3, calls / 20), () => est.EstimatePairs(zs, everyColumn, shuffledValues));
        var orders = Enumerable.Range(0, zs.Columns).Select(_ => new BinOrder(s, 16)).ToArray();
        double binAll = Min(Math.Max(3, calls / 20), () => { for (int j = 0; j < zs.Columns; j++) EqualFrequencyBins.Compute(zs.Column(j), 16, orders[j].Codes, default, orders[j].Low, orders[j].High); });
        Console.WriteLine($"  binning with the layout, all {zs.Columns} columns: {binAll * 1e6:F1} us = {binAll / zs.Columns * 1e6:F2} us/column");
        if (pieces && BinOrder.Applies(s, 16)) BinningPieces(zs, calls); // peaked columns (MiniLM): the member phases
        if (BinOrder.SumTableApplies(s, 16)) Kernel(orders, calls);
        Console.WriteLine($"{name,-15} S={s,5}: EstimatePairs, the {shuffled.Length} pairs shuffled: {list / shuffled.Length * 1e6,6:F3} us/pair CPU; " +
                          $"a call with every column once ({zs.Columns / 2} pairs) {cover * 1e6,6:F1} us = {cover / shuffled.Length * 1e6,6:F3} us per listed pair; " +
                          $"columns the edge selection declines (radix path): {MiPairsSuite.Declined(zs)} of {zs.Columns}");
    }

    /// <summary>
    /// --binning-pieces: the edge-selection binning with the bin-order layout (as EstimatePairs runs it), stopped after
    /// each phase in turn (<see cref="EqualFrequencyEdges.StopAfterPhase"/>, round-robin); each piece = the
    /// difference of the cumulative minima, per column; and a hash of the codes and the layout (Low, High) of the complete run.
    /// </summary>
    private static void BinningPieces(ActivationMatrix z, int calls)
    {
        int s = z.Rows;
        var orders = new BinOrder[z.Columns];
        for (int j = 0; j < z.Columns; j++) orders[j] = new BinOrder(s, 16);
        string[] names = ["keys", "histogram", "edge search", "look-up", "member slots", "member sort", "member codes", "copy-out"];
        foreach (bool layout in new[] { true, false })
        {
            // round-robin over the phases, 10 passes of every column each, the minimum per phase: drifts of the
            // machine's speed then touch every phase alike
            var cum = new double[names.Length + 1];
            Array.Fill(cum, double.PositiveInfinity);
            cum[0] = 0;
            var warm = Stopwatch.StartNew();
            try
            {
                for (int round = 0; round < Math.Max(10, calls / 10) || warm.Elapsed.TotalSeconds < 1; round++)
                    for (int phase = 1; phase <= names.Length; phase++)
                    {
                        EqualFrequencyEdges.StopAfterPhase = phase == names.Length ? 0 : phase;
                        for (int pass = 0; pass < 10; pass++)
                        {
                            double c0 = ThreadCpu();
                            for (int j = 0; j < z.Columns; j++)
                                EqualFrequencyEdges.TryCompute(z.Column(j), 16, orders[j].Codes, default,
                                    layout ? orders[j].Low : default, layout ? orders[j].High : default, out _);
                            double c1 = ThreadCpu() - c0;
                            if (warm.Elapsed.TotalSeconds >= 0.5) cum[phase] = Math.Min(cum[phase], c1);
                        }
                    }
            }
            finally { EqualFrequencyEdges.StopAfterPhase = 0; }
            double whole = Min(calls, () =>
            {
                for (int j = 0; j < z.Columns; j++)
                    EqualFrequencyBins.Compute(z.Column(j), 16, orders[j].Codes, default, layout ? orders[j].Low : default, layout ? orders[j].High : default);
            });
            ulong hash = Fnv.Seed;
            foreach (var o in orders) { hash = Fnv.Add(hash, o.Codes); if (layout) { hash = Fnv.Add(hash, o.Low); hash = Fnv.Add(hash, o.High); } }
            var parts = string.Join(", ", names.Select((n, k) => $"{n} {(cum[k + 1] - cum[k]) / z.Columns * 1e6:F3}"));
            Console.WriteLine($"  binning pieces (us/column, {(layout ? "with" : "without")} the layout): {parts}; TryCompute {cum[^1] / z.Columns * 1e6:F3}, Compute {whole / z.Columns * 1e6:F3}; {(layout ? "codes+layout" : "codes")} {hash:x16}");
        }
    }

    /// <summary>
    /// The pair kernel alone (<see cref="BinOrder.SumTable16"/>, and x's lane masks once per row) over every pair of the
    /// prepared columns, in row order as EstimateAllPairs visits them: no column preparation, no per-pair bookkeeping.
    /// </summary>
    private static void Kernel(BinOrder[] orders, int calls)
    {
        var table = FixedCLogC.For(orders[0].Samples);
        foreach (var o in orders) o.PackCodes();
        var masks = new byte[BinOrder.LaneMaskBytes];
        int n = orders.Length;
        long sum = 0;
        Action perRow = () =>
        {
            for (int i = 0; i < n; i++)
            {
                BinOrder.WriteLaneMasks(orders[i], masks);
                for (int j = i + 1; j < n; j++) sum += BinOrder.SumTable16(masks, orders[j], table);
            }
        };
        // every column's masks written beforehand (kept with the column): the kernel without the per-row writes
        var kept = orders.Select(o => { var m = new byte[BinOrder.LaneMaskBytes]; BinOrder.WriteLaneMasks(o, m); return m; }).ToArray();
        Action beforehand = () =>
        {
            for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++) sum += BinOrder.SumTable16(kept[i], orders[j], table);
        };
        double bestRow = double.PositiveInfinity, bestKept = double.PositiveInfinity;
        for (int round = 0; round < 5; round++)
        {
            bestRow = Math.Min(bestRow, Min(Math.Max(3, calls / 100), perRow));
            bestKept = Math.Min(bestKept, Min(Math.Max(3, calls / 100), beforehand));
        }
        long count = (long)n * (n - 1) / 2;
        Console.WriteLine($"  kernel alone (SumTable16 over all {count} pairs of the prepared columns, in rows): {bestRow / count * 1e9:F1} ns/pair with x's lane masks written per row, {bestKept / count * 1e9:F1} with every column's written beforehand");
    }

    private static readonly long[] FlushBuffer = new long[8 << 20];

    /// <summary>Before each cold call: the caches flushed, and with --sleep 20 ms idle (as while the peer's process runs).</summary>
    private static Action Flush = FlushCaches;

    /// <summary>Writes 64 MB: evicts our data and code from every cache level, as another process would.</summary>
    private static void FlushCaches()
    {
        var b = FlushBuffer;
        for (int i = 0; i < b.Length; i += 8) b[i]++;
    }

    private static double Min(int calls, Action a, Action? before = null)
    {
        // warm-up long enough for tiered JIT to replace tier-0 code (as mi-pairs does)
        var warm = Stopwatch.StartNew();
        do a(); while (warm.Elapsed.TotalSeconds < 0.5);
        double best = double.PositiveInfinity;
        for (int k = 0; k < calls; k++)
        {
            before?.Invoke();
            double c0 = ThreadCpu();
            a();
            best = Math.Min(best, ThreadCpu() - c0);
        }
        return best;
    }

    private static class Fnv
    {
        public const ulong Seed = 14695981039346656037UL;
        public static ulong Add(ulong h, ReadOnlySpan<byte> data)
        {
            foreach (byte b in data) h = (h ^ b) * 1099511628211UL;
            return h;
        }
    }

    /// <summary>The all-pairs matrix, hashed once complete (tiles arrive in any order).</summary>
    private sealed class HashSink(int n) : IMiTileSink
    {
        private readonly float[] _m = new float[n * n];
        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            for (int r = 0; r < rowCount; r++) tile.Slice(r * colCount, colCount).CopyTo(_m.AsSpan((rowStart + r) * n + colStart, colCount));
        }
        public ulong Hash() => Fnv.Add(Fnv.Seed, MemoryMarshal.AsBytes(_m.AsSpan()));
    }
}
