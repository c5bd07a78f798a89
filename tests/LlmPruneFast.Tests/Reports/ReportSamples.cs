using LlmPruneFast.Capture;
using System.Diagnostics;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Tests.Reports;

/// <summary>
/// A realistic report built end to end from the real stories260K: calibration activations captured through our
/// ONNX graph's FFN taps in ONNX Runtime (first half of the TinyStories sample, S positions drawn with a seed,
/// padding excluded), a real plan (mi-random-pairs, null-calibrated threshold, plug-in MI, 30% uniform, partner
/// compensation), the pruned model built in memory from the sliced layers and evaluated against the dense one
/// (reference paragraph protocol on paragraphs of the second half), and a small sweep over ratio and method.
/// Capture here is the test's own (the library's Capture stage is not on this branch yet).
/// Built once per test run and shared by the report tests.
/// </summary>
public static class ReportSamples
{
    private static readonly Lazy<(PruneReport Report, PruningPlan Plan)> Built = new(Build);

    public static PruneReport Stories260K => Built.Value.Report;
    public static PruningPlan Stories260KPlan => Built.Value.Plan;

    public const int CalibrationTokens = 2048;
    public const int CalibrationParagraphs = 120;
    public const int EvalParagraphs = 20;
    public const long Seed = 7;

    private static (PruneReport, PruningPlan) Build()
    {
        var clock = Stopwatch.StartNew();
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        var tokenizer = ModelTokenizer.Load(SharedData.Stories260KTokenizer);
        var paragraphs = TextCorpus.Paragraphs(TextCorpus.Read(SharedData.TinyStories));
        // Calibration positions are drawn from the first CalibrationParagraphs paragraphs of the first half (enough
        // positions for S, and a capture that takes seconds on a shared 2-core machine).
        var calib = paragraphs.Take(Math.Min(CalibrationParagraphs, paragraphs.Count / 2)).ToArray();
        var eval = paragraphs.Skip(paragraphs.Count / 2).Take(EvalParagraphs).ToArray();
        var activations = new LlamaModel(config, tensors, tokenizer).Capture(string.Join("\n\n", calib), "calibration sample",
            new CalibrationOptions { Samples = CalibrationTokens, Seed = Seed }).Layers;
        double captureSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        var fingerprint = CheckpointLayerSource.Fingerprint("stories260K (../shared/models/stories260K/stories260K.bin)", config, tensors);
        var source = new CheckpointLayerSource(config, tensors, activations);
        var plugin = new MiEstimatorOptions { Bins = 16 };
        PruningPlan PlanFor(string method, double ratio) => Pruner.Plan(fingerprint, source, new PruningOptions
        {
            Selector = PruningSelectors.Create(method),
            Estimator = EstimatorPairInformation.Create("plugin", plugin),
            Budget = new PruningBudget(BudgetKind.Uniform, ratio),
            Seed = Seed,
            Calibration = new CalibrationInfo($"first {CalibrationParagraphs} paragraphs of corpora/tinystories/valid-sample.txt (its first half)", CalibrationTokens, Seed),
        });
        var plan = PlanFor("mi-random-pairs", 0.3);
        double selectSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        var densePpl = new Perplexity(dense).Paragraphs(tokenizer, eval, config.MaxPositionEmbeddings);
        var evalIds = eval.Select(p => tokenizer.Encode(p).Take(config.MaxPositionEmbeddings).ToArray()).ToArray();
        (PerplexityResult Ppl, ComparisonResult Cmp, long Params) Evaluate(PruningPlan p)
        {
            var (prunedConfig, prunedTensors) = PrunedModel.Build(config, tensors, Pruner.ApplyPlan(p, source).ToArray());
            using var pruned = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(prunedConfig, prunedTensors));
            return (new Perplexity(pruned).Paragraphs(tokenizer, eval, config.MaxPositionEmbeddings),
                ModelComparison.Compare(dense, pruned, evalIds), Parameters(prunedTensors));
        }
        var (ppl, cmp, prunedParams) = Evaluate(plan);
        double evalSeconds = clock.Elapsed.TotalSeconds;

        var sweep = new List<SweepPoint>();
        foreach (string method in new[] { "mi-weighted", "flap" })
            foreach (double ratio in new[] { 0.1, 0.3, 0.5 })
            {
                var p = PlanFor(method, ratio);
                var (pp, cc, _) = Evaluate(p);
                sweep.Add(new SweepPoint(method, ratio, p.Compensation.Kind, pp.Perplexity, cc.MeanKl));
            }

        clock.Restart();
        var (layerReports, cards) = new ReportBuilder(MiEstimators.Create("plugin", plugin)).Build(plan, activations, Seed);
        double reportSeconds = clock.Elapsed.TotalSeconds;

        long denseParams = Parameters(tensors);
        var summary = ReportSummary.FromPlan(plan) with
        {
            Evaluation = new ReportEvaluation
            {
                Text = "second half of corpora/tinystories/valid-sample.txt",
                Kind = "paragraphs",
                Paragraphs = EvalParagraphs,
                Protocol = densePpl.Protocol,
                Tokens = densePpl.Tokens,
            },
            Parameters = new BeforeAfter(denseParams, prunedParams),
            Bytes = new BeforeAfter(denseParams * 4.0, prunedParams * 4.0),
            Perplexity = new BeforeAfter(densePpl.Perplexity, ppl.Perplexity),
            Kl = new BeforeAfter(0, cmp.MeanKl),
            Top1Agreement = cmp.Top1Agreement,
            Stages = [new StageTime("capture", captureSeconds), new StageTime("select", selectSeconds),
                new StageTime("evaluate", evalSeconds), new StageTime("report statistics", reportSeconds)],
        };
        var report = new PruneReport
        {
            Title = "stories260K pruned 30% with mi-random-pairs <test sample>",
            Summary = summary,
            Layers = layerReports,
            Cards = cards,
            Sweep = sweep,
            Notes = ["Test sample: real stories260K and real activations; parameters counted over all tensors (the pruned model includes its mlp biases), bytes as float32 tensor data; latency not measured."],
        };
        return (report, plan);
    }

    private static long Parameters(InMemoryTensorSource t) => t.Names.Sum(n => t.GetInfo(n).ElementCount);
}
