using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// The "measure dense vs pruned" step on the real stories260K: every path (whole-model graphs with or without the dense
/// cache, layer by layer) gives the same numbers, the plan picks the path from the budget, and latency is timed only on
/// the whole-model graphs.
/// </summary>
public sealed class DecoderComparisonTests
{
    private static readonly Lazy<(DecoderWeights Dense, DecoderWeights Pruned)> Models = new(() =>
    {
        var settings = new PruneSettings { Method = "flap", Ratio = 0.25, Calibration = new CalibrationOptions { Samples = 512, Threads = 1 } };
        var outcome = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Stories260K.Calibration(30_000), "calib", settings);
        var (config, tensors) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, outcome.Layers);
        return (new DecoderWeights(Stories260K.Config, Stories260K.Tensors), new DecoderWeights(config, tensors));
    });

    private static MeasureOptions Options(EvaluationMode mode, long budget = 1L << 34) => new() { Mode = mode, BudgetBytes = budget, Threads = 1 };

    [SharedFact]
    public void EveryPath_GivesTheSameNumbers_CachedReferenceServesManyVariants()
    {
        var (dense, pruned) = Models.Value;
        var paragraphs = Stories260K.EvalParagraphs(6);
        var tok = Stories260K.Tokenizer;
        var wholePlan = DecoderComparison.Plan(dense, tok, paragraphs, Options(EvaluationMode.Auto));
        Assert.Equal(EvaluationMode.Whole, wholePlan.Path); // 260K parameters fit 16 GiB
        var single = DecoderComparison.Run(dense, pruned, tok, paragraphs, wholePlan, Options(EvaluationMode.Auto), latency: true);
        var e = single.Evaluation!;
        Assert.NotNull(single.Latency);
        Assert.Equal(["eval", "latency"], single.Seconds.Keys.Order());
        Assert.True(e.After.Perplexity > e.Before.Perplexity && e.Fidelity.MeanKl > 0.01);

        using (var cached = DecoderComparison.Open(dense, tok, paragraphs, wholePlan, Options(EvaluationMode.Auto), cacheBudgetBytes: 1L << 30))
        {
            Assert.Equal(e.Before.MeanNll, cached.DensePerplexity!.MeanNll, 12); // evaluated at open
            for (int i = 0; i < 2; i++) // the same variant twice against one reference
            {
                var c = cached.Measure(pruned, latency: false).Evaluation!;
                Assert.Equal(e.After.MeanNll, c.After.MeanNll, 12);
                Assert.Equal(e.Fidelity.MeanKl, c.Fidelity.MeanKl, 12);
                Assert.Equal(e.Fidelity.Top1Agreement, c.Fidelity.Top1Agreement);
            }
        }

        var layersPlan = DecoderComparison.Plan(dense, tok, paragraphs, Options(EvaluationMode.Layers));
        Assert.Equal(EvaluationMode.Layers, layersPlan.Path);
        using var streamed = DecoderComparison.Open(dense, tok, paragraphs, layersPlan, Options(EvaluationMode.Layers), cacheBudgetBytes: 1L << 30);
        Assert.Null(streamed.DensePerplexity); // known once the dense model has run beside a variant
        var s = streamed.Measure(pruned, latency: true);
        Assert.Null(s.Latency); // latency times the whole-model graphs
        var l = s.Evaluation!;
        Assert.Equal(e.Before.Tokens, l.Before.Tokens);
        Assert.Equal(e.Before.MeanNll, streamed.DensePerplexity!.MeanNll, 1e-5);
        Assert.Equal(e.Before.MeanNll, l.Before.MeanNll, 1e-5);
        Assert.Equal(e.After.MeanNll, l.After.MeanNll, 1e-5);
        Assert.True(Math.Abs(e.Fidelity.MeanKl - l.Fidelity.MeanKl) <= 1e-5 * e.Fidelity.MeanKl);
        Assert.Equal(e.Fidelity.Top1Agreement, l.Fidelity.Top1Agreement);
    }

    [SharedFact]
    public void Auto_StreamsLayersWhenTheGraphsDoNotFit_LatencyOnlyRunsWhole()
    {
        var (dense, pruned) = Models.Value;
        var paragraphs = Stories260K.EvalParagraphs(6);
        var whole = DecoderComparison.Plan(dense, Stories260K.Tokenizer, paragraphs, Options(EvaluationMode.Whole));
        // A budget just under the whole-model estimate: auto takes the layer stream, and whole is refused.
        long under = whole.TotalBytes - 1;
        Assert.Equal(EvaluationMode.Layers, DecoderComparison.Plan(dense, Stories260K.Tokenizer, paragraphs, Options(EvaluationMode.Auto, under)).Path);
        Assert.Equal(EvaluationMode.Whole, DecoderComparison.Plan(dense, Stories260K.Tokenizer, paragraphs, Options(EvaluationMode.Auto, whole.TotalBytes)).Path);
        Assert.Throws<MemoryBudgetException>(() => DecoderComparison.Plan(dense, Stories260K.Tokenizer, paragraphs, Options(EvaluationMode.Whole, under)).ThrowIfOverBudget());

        var timed = DecoderComparison.Run(dense, pruned, Stories260K.Tokenizer, null, null, Options(EvaluationMode.Auto), latency: true);
        Assert.Null(timed.Evaluation);
        Assert.True(timed.Latency!.Value.Dense.MedianMs > 0);
        Assert.Throws<ArgumentException>(() => DecoderComparison.Open(dense, Stories260K.Tokenizer, paragraphs, null, Options(EvaluationMode.Auto)));
    }
}
