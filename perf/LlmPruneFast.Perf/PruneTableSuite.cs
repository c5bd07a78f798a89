using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using Microsoft.ML.Tokenizers;

namespace LlmPruneFast.Perf;

/// <summary>
/// <c>prune-table [--shared DIR] [--out FILE.md] [--methods a,b:key=value] [--sparsities 0.1,0.2] [--compensations none,bias] [--samples S]
/// [--estimator plugin] [--heldout]</c> (<c>--heldout</c>: also KL on the held-out calibration paragraphs, the only score
/// parameters may be chosen by):
/// the METHOD.md "What we measured" setup on stories260K. Calibration: the first half of
/// corpora/tinystories/valid-sample.txt (<see cref="CorpusSplit.Halves"/>: its UTF-8 bytes cut at floor(length/2)),
/// S = 8192 positions sampled with seed 0 (BOS excluded), the last 16 paragraphs of the first half held out for
/// mi-random-pairs' KL choice (for every method, so all share one calibration). Evaluation: reference protocol on the
/// first 60 paragraphs of the second half (dense perplexity 4.2029). Uniform budget. Every method x sparsity is
/// selected once and sliced under each compensation. Prints and writes a Markdown table of perplexity and
/// KL(dense || pruned).
/// <para><c>planted [--c C]</c>: stories260K widened by 43 copies per layer (<see cref="FfnWidener"/>), pruned at
/// the matching 20% by every method with none and partner compensation: planted pairs split, perplexity.</para>
/// </summary>
internal static class PruneTableSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register()
    {
        Suites.All["prune-table"] = Run;
        Suites.All["planted"] = Planted;
    }

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static string SharedRoot(string[] args) => Path.GetFullPath(Arg(args, "--shared", Path.Combine("..", "shared")));

    /// <summary>Dense logits cached per batch, so each pruned model is run once for perplexity and KL together.</summary>
    private sealed class Evaluator
    {
        private readonly int[][] _sequences;
        private readonly List<(int[] Members, RunResult Dense)> _batches = [];
        public double DensePerplexity { get; }

        public Evaluator(OnnxLlamaRunner dense, IModelTokenizer tokenizer, IReadOnlyList<string> paragraphs, int maxLength)
        {
            _sequences = paragraphs.Select(p => tokenizer.Encode(p).Take(maxLength).ToArray()).ToArray();
            var order = Enumerable.Range(0, _sequences.Length).OrderByDescending(i => _sequences[i].Length).ThenBy(i => i).ToArray();
            for (int b = 0; b < order.Length; b += 8)
            {
                var members = order.Skip(b).Take(8).ToArray();
                _batches.Add((members, dense.Run(TokenBatch.Create(members.Select(i => _sequences[i]).ToArray()))));
            }
            DensePerplexity = Score(dense).Perplexity;
        }

        public (double Perplexity, double Kl) Score(OnnxLlamaRunner model)
        {
            double nll = 0, kl = 0;
            long tokens = 0, positions = 0;
            var la = new double[model.Vocab];
            var lb = new double[model.Vocab];
            foreach (var (members, dense) in _batches)
            {
                var batch = TokenBatch.Create(members.Select(i => _sequences[i]).ToArray());
                var r = model.Run(batch);
                for (int m = 0; m < members.Length; m++)
                {
                    var ids = _sequences[members[m]];
                    for (int t = 0; t < ids.Length; t++)
                    {
                        if (t >= 1) { nll -= LogProbabilities.LogProb(r.LogitsAt(m, t - 1), ids[t]); tokens++; }
                        LogProbabilities.LogSoftmax(dense.LogitsAt(m, t), la);
                        LogProbabilities.LogSoftmax(r.LogitsAt(m, t), lb);
                        double s = 0;
                        for (int v = 0; v < la.Length; v++) s += Math.Exp(la[v]) * (la[v] - lb[v]);
                        kl += s;
                        positions++;
                    }
                }
            }
            return (Math.Exp(nll / tokens), kl / positions);
        }
    }

    public static int Run(string[] args)
    {
        string shared = SharedRoot(args);
        var methods = Arg(args, "--methods", string.Join(",", PruningSelectors.Names)).Split(',');
        var sparsities = Arg(args, "--sparsities", "0.1,0.2,0.3,0.5").Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var compensations = Arg(args, "--compensations", "none,bias,partner,refit").Split(',').Select(CompensationKinds.Parse).ToArray();
        int samples = int.Parse(Arg(args, "--samples", "8192"), CultureInfo.InvariantCulture);
        string outPath = Arg(args, "--out", Path.Combine("perf", "results", "prune-table.md"));

        var (config, tensors) = Llama2cCheckpoint.Read(Path.Combine(shared, "models/stories260K/stories260K.bin"));
        var tokenizer = ModelTokenizer.Load(Path.Combine(shared, "models/stories260K/tok512.model"));
        var (first, second) = CorpusSplit.Halves(Path.Combine(shared, "corpora/tinystories/valid-sample.txt"));
        var clock = Stopwatch.StartNew();
        var calibration = new LlamaModel(config, tensors, tokenizer).Capture(first, "valid-sample.txt, first half of its bytes",
            new CalibrationOptions { Samples = samples, Seed = 0, HeldOutSequences = 16, Layout = CalibrationLayout.Paragraphs });
        Console.WriteLine($"capture: {calibration.Samples} of {calibration.EligiblePositions} positions, {calibration.SequencesRun} paragraphs run, {clock.Elapsed.TotalSeconds:F1} s");
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        var evaluator = new Evaluator(dense, tokenizer, TextCorpus.Paragraphs(second, 60), config.MaxPositionEmbeddings);
        Console.WriteLine($"dense perplexity {evaluator.DensePerplexity:F4} (first 60 paragraphs of the second half)");
        var heldOut = calibration.HeldOut.Where(h => h.Length > 1).ToArray();
        var source = new CheckpointLayerSource(config, tensors, calibration.Layers);
        var fingerprint = CheckpointLayerSource.Fingerprint("stories260K", config, tensors);

        string estimator = Arg(args, "--estimator", "plugin");
        bool heldOutKl = Array.IndexOf(args, "--heldout") >= 0;
        var results = new Dictionary<(string, CompensationKind, double), (double Ppl, double Kl)>();
        var heldResults = new Dictionary<(string, CompensationKind, double), double>();
        foreach (var method in methods)
            foreach (var ratio in sparsities)
            {
                clock.Restart();
                var (name, parameters) = ParseMethod(method);
                var options = ModelPruner.Options(new PruneSettings { Method = name, MethodParameters = parameters, Estimator = estimator, Ratio = ratio }, new LlamaModel(config, tensors), calibration.Info);
                if (options.Selector.Candidates > 1)
                    options = options with { CandidateScorer = p => Evaluate(config, tensors, source, p, null, heldOut, dense).Kl };
                var plan = Pruner.Plan(fingerprint, source, options);
                double selectSeconds = clock.Elapsed.TotalSeconds;
                foreach (var kind in compensations)
                {
                    var variant = plan with { Compensation = new CompensationOptions(kind, options.Selector is ObsSelector obs ? obs.Damping : CompensationOptions.DefaultRidge).ToInfo() };
                    var r = Evaluate(config, tensors, source, variant, evaluator, heldOut, dense);
                    results[(method, kind, ratio)] = r;
                    string held = "";
                    if (heldOutKl)
                    {
                        heldResults[(method, kind, ratio)] = Evaluate(config, tensors, source, variant, null, heldOut, dense).Kl;
                        held = $"  held-out calibration KL {heldResults[(method, kind, ratio)]:F4}";
                    }
                    Console.WriteLine($"{method,-16} {ratio,4:P0} {CompensationKinds.Name(kind),-8} ppl {r.Ppl,9:F3}  KL {r.Kl:F4}{held}   (select {selectSeconds:F1} s)");
                }
            }

        var md = new StringBuilder();
        md.AppendLine($"Perplexity (KL(dense || pruned) nats/token) of stories260K, uniform FFN sparsity. Calibration: {calibration.Samples} positions (seed 0, BOS excluded) " +
                      $"of the first half of valid-sample.txt (UTF-8 bytes cut at floor(length/2); last 16 paragraphs held out). Evaluation: reference protocol, " +
                      $"first 60 paragraphs of the second half, dense perplexity {evaluator.DensePerplexity:F4}. Command: `dotnet run -c Release --project perf/LlmPruneFast.Perf -- prune-table`.");
        md.AppendLine();
        md.AppendLine("| method | compensation | " + string.Join(" | ", sparsities.Select(s => $"{s:P0}")) + " |");
        md.AppendLine("| --- | --- | " + string.Join(" | ", sparsities.Select(_ => "---")) + " |");
        foreach (var method in methods)
            foreach (var kind in compensations)
                md.AppendLine($"| {method} | {CompensationKinds.Name(kind)} | " +
                    string.Join(" | ", sparsities.Select(s => results.TryGetValue((method, kind, s), out var r) ? $"{r.Ppl:F2} ({r.Kl:F3})" : "")) + " |");
        if (heldOutKl)
        {
            md.AppendLine();
            md.AppendLine("Held-out calibration KL (last 16 paragraphs of the first half; for choosing methods and parameters without the evaluation text):");
            md.AppendLine();
            md.AppendLine("| method | compensation | " + string.Join(" | ", sparsities.Select(s => $"{s:P0}")) + " |");
            md.AppendLine("| --- | --- | " + string.Join(" | ", sparsities.Select(_ => "---")) + " |");
            foreach (var method in methods)
                foreach (var kind in compensations)
                    md.AppendLine($"| {method} | {CompensationKinds.Name(kind)} | " +
                        string.Join(" | ", sparsities.Select(s => heldResults.TryGetValue((method, kind, s), out var v) ? $"{v:F4}" : "")) + " |");
        }
        Console.WriteLine();
        Console.Write(md);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"wrote {Path.GetFullPath(outPath)}");
        return 0;
    }

    /// <summary>A method spec <c>name[:key=value]...</c> (values: true/false, numbers, text) as a name and parameters.</summary>
    internal static (string Name, PlanParameters? Parameters) ParseMethod(string spec)
    {
        var parts = spec.Split(':');
        if (parts.Length == 1) return (spec, null);
        var p = new PlanParameters();
        foreach (var kv in parts.Skip(1))
        {
            var (key, value) = (kv[..kv.IndexOf('=')], kv[(kv.IndexOf('=') + 1)..]);
            if (value is "true" or "false") p.Set(key, value == "true");
            else if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) p.Set(key, d);
            else p.Set(key, value);
        }
        return (parts[0], p);
    }

    /// <summary>Slices <paramref name="plan"/>, runs the pruned graph: perplexity + KL on the evaluation text, or KL on held-out sequences.</summary>
    private static (double Ppl, double Kl) Evaluate(LlamaConfig config, ITensorSource tensors, ILayerSource source, PruningPlan plan,
        Evaluator? evaluator, int[][] heldOut, OnnxLlamaRunner dense)
    {
        var layers = Pruner.ApplyPlan(plan, source).ToArray();
        var (c, t) = PrunedModel.Build(config, tensors, layers);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(c, t));
        return evaluator != null ? evaluator.Score(runner) : (double.NaN, ModelComparison.Compare(dense, runner, heldOut).MeanKl);
    }

    public static int Planted(string[] args)
    {
        string shared = SharedRoot(args);
        double c = double.Parse(Arg(args, "--c", "2"), CultureInfo.InvariantCulture);
        int samples = int.Parse(Arg(args, "--samples", "2048"), CultureInfo.InvariantCulture);
        var (config, tensors) = Llama2cCheckpoint.Read(Path.Combine(shared, "models/stories260K/stories260K.bin"));
        var tokenizer = ModelTokenizer.Load(Path.Combine(shared, "models/stories260K/tok512.model"));
        var (first, second) = CorpusSplit.Halves(Path.Combine(shared, "corpora/tinystories/valid-sample.txt"));
        const int Copies = 43;
        var wide = FfnWidener.Widen(config, tensors, Copies, c, seed: 11);
        var calibration = new LlamaModel(wide.Config, wide.Tensors, tokenizer).Capture(first, "first half",
            new CalibrationOptions { Samples = samples, HeldOutSequences = 16, Layout = CalibrationLayout.Paragraphs });
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        using var wideRunner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(wide.Config, wide.Tensors));
        var evaluator = new Evaluator(dense, tokenizer, TextCorpus.Paragraphs(second, 60), config.MaxPositionEmbeddings);
        Console.WriteLine($"planted: {Copies} copies per layer (c = {c}), S = {samples}; original perplexity {evaluator.DensePerplexity:F4}, widened {evaluator.Score(wideRunner).Perplexity:F4}; ratio {Copies}/{172 + Copies}");
        var source = new CheckpointLayerSource(wide.Config, wide.Tensors, calibration.Layers);
        var fingerprint = CheckpointLayerSource.Fingerprint("widened", wide.Config, wide.Tensors);
        var heldOut = calibration.HeldOut.Where(h => h.Length > 1).ToArray();
        Console.WriteLine("| method | pairs split | perplexity, none | perplexity, partner |");
        Console.WriteLine("| --- | --- | --- | --- |");
        foreach (var method in PruningSelectors.Names)
        {
            var options = ModelPruner.Options(new PruneSettings { Method = method, Ratio = (double)Copies / (172 + Copies) }, new LlamaModel(wide.Config, wide.Tensors), calibration.Info);
            if (options.Selector.Candidates > 1)
                options = options with { CandidateScorer = p => Evaluate(wide.Config, wide.Tensors, source, p, null, heldOut, wideRunner).Kl };
            var plan = Pruner.Plan(fingerprint, source, options);
            var (split, total) = wide.SplitPairs(plan);
            var none = Evaluate(wide.Config, wide.Tensors, source, plan with { Compensation = new CompensationInfo("none", new()) }, evaluator, heldOut, dense);
            var partner = Evaluate(wide.Config, wide.Tensors, source, plan with { Compensation = new CompensationInfo("partner", new()) }, evaluator, heldOut, dense);
            Console.WriteLine($"| {method} | {split}/{total} | {none.Ppl:F4} | {partner.Ppl:F4} |");
        }
        return 0;
    }
}
