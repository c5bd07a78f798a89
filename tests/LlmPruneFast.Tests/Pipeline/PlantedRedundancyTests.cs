using LlmPruneFast.Capture;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using Xunit.Abstractions;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// Planted redundancy on the real stories260K: every layer widened by copies of existing neurons (copy's up row
/// scaled by c, down column split so the function is unchanged, <see cref="FfnWidener"/>); at the matching sparsity
/// the MI methods must remove exactly one neuron of (almost) every planted pair, and partner compensation must
/// give back the original perplexity.
/// </summary>
public sealed class PlantedRedundancyTests(ITestOutputHelper output)
{
    public const int Copies = 43; // a quarter of 172: width 215, matching sparsity 43/215 = 0.2
    public const int EvalParagraphs = 40;

    internal sealed record Setup(WidenedModel Wide, CalibrationSet Calibration, double DensePerplexity);

    private static readonly Dictionary<double, Setup> Cache = [];
    private static readonly Lazy<double> Dense = new(() => Stories260K.Perplexity(Stories260K.Config, Stories260K.Tensors, EvalParagraphs).Perplexity);

    internal static Setup For(double c, int samples = 2048)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(c, out var s)) return s;
            var wide = FfnWidener.Widen(Stories260K.Config, Stories260K.Tensors, Copies, c, seed: 11);
            var calibration = new LlamaModel(wide.Config, wide.Tensors, Stories260K.Tokenizer).Capture(Stories260K.Calibration(), "calib",
                new CalibrationOptions { Samples = samples, Seed = 0 });
            return Cache[c] = new Setup(wide, calibration, Dense.Value);
        }
    }

    internal static (PruningPlan Plan, double Perplexity) Prune(Setup s, string method, CompensationKind compensation)
    {
        var wide = s.Wide;
        var source = new CheckpointLayerSource(wide.Config, wide.Tensors, s.Calibration.Layers);
        var options = ModelPruner.Options(new PruneSettings { Method = method, Ratio = (double)Copies / (172 + Copies), Compensation = compensation }, new LlamaModel(wide.Config, wide.Tensors));
        var fingerprint = CheckpointLayerSource.Fingerprint("widened", wide.Config, wide.Tensors);
        var (plan, layers) = Pruner.Prune(fingerprint, source, options);
        var (config, tensors) = PrunedModel.Build(wide.Config, wide.Tensors, layers);
        return (plan, Stories260K.Perplexity(config, tensors, EvalParagraphs).Perplexity);
    }

    [SharedTheory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    [InlineData(-1.0)]
    public void WidenedModel_HasTheOriginalPerplexity(double c)
    {
        var s = For(c);
        Assert.Equal(215, s.Wide.Config.IntermediateSize);
        double wide = Stories260K.Perplexity(s.Wide.Config, s.Wide.Tensors, EvalParagraphs).Perplexity;
        Assert.True(Math.Abs(wide / s.DensePerplexity - 1) < 1e-5, $"widened {wide} vs original {s.DensePerplexity}");
    }

    [SharedTheory]
    [InlineData("mi-weighted", 0.5)]
    [InlineData("mi-weighted", 2.0)]
    [InlineData("mi-weighted", -1.0)]
    [InlineData("mi-greedy", 0.5)]
    [InlineData("mi-greedy", 2.0)]
    [InlineData("mi-greedy", -1.0)]
    [InlineData("mi-conditional", 0.5)]
    [InlineData("mi-conditional", -1.0)]
    [InlineData("mi-cluster", 2.0)]
    [InlineData("mi-cluster", -1.0)]
    public void MiMethod_SplitsThePlantedPairs_AndPartnerMergeRestoresPerplexity(string method, double c)
    {
        var s = For(c);
        var (plan, ppl) = Prune(s, method, CompensationKind.Partner);
        var (split, total) = s.Wide.SplitPairs(plan);
        output.WriteLine($"{method} c={c}: {split}/{total} pairs split, perplexity {ppl:F4} vs original {s.DensePerplexity:F4}");
        Assert.True(split >= 0.95 * total, $"{method}: only {split} of {total} planted pairs split");
        Assert.True(Math.Abs(ppl / s.DensePerplexity - 1) < 1e-3, $"{method}: perplexity {ppl} vs original {s.DensePerplexity}");
    }
}
