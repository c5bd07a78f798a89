using LlmPruneFast.Capture;
using LlmPruneFast.Information;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Tests.Reports;

/// <summary>
/// The statistics behind the report, against plain recomputation. Activations here are SYNTHETIC (seeded Gaussian
/// columns with planted copies), so the right answers are known; the real-model sample is in <see cref="ReportSamples"/>.
/// </summary>
public sealed class ReportBuilderTests
{
    /// <summary>Synthetic Z [S x N]: independent N(0,1) columns, except column 7 = 2 * column 2 + small noise.</summary>
    private static LayerActivations SyntheticPlanted(int index, int s, int n, int seed)
    {
        var rng = new Random(seed);
        var z = new float[s * n];
        for (int r = 0; r < s; r++)
            for (int j = 0; j < n; j++) z[r * n + j] = (float)Gaussian(rng);
        for (int r = 0; r < s; r++) z[r * n + 7] = 2 * z[r * n + 2] + 0.05f * (float)Gaussian(rng);
        return new LayerActivations(index, s, n, z);
    }

    private static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static PruningPlan Plan(int n, PlanParameters? methodParameters = null) => new()
    {
        Model = new ModelFingerprint("synthetic", 4, [n, n], new string('0', 64)),
        Method = "mi-random-pairs",
        MethodParameters = methodParameters ?? new PlanParameters().Set("threshold_mode", "null").Set("quantile", 0.99),
        Estimator = new EstimatorInfo("plugin", new PlanParameters().Set("bins", 8)),
        Budget = new BudgetInfo("uniform", 0),
        Ratio = 0.1,
        Seed = 1,
        Compensation = new CompensationInfo("partner", new PlanParameters()),
        Layers =
        [
            new LayerPlan(0, Enumerable.Range(0, n).Where(j => j != 7).ToArray(), [new RemovedNeuron(7, 2, 1.5, 0.05, "planted copy of 2")]),
            new LayerPlan(1, Enumerable.Range(0, n).Where(j => j != 4).ToArray(), [new RemovedNeuron(4, 9, 0.01, 0.9, "weak pair")]),
        ],
    };

    [Fact]
    public void Histogram_CountsEverySampledPairAndMatchesPlainEstimates()
    {
        const int s = 600, n = 40;
        var z = new[] { SyntheticPlanted(0, s, n, 1), SyntheticPlanted(1, s, n, 2) };
        var estimator = MiEstimators.Create("plugin", new MiEstimatorOptions { Bins = 8 });
        var options = new ReportBuilderOptions { PairsPerLayer = 300, NullPairs = 200 };
        var (layers, _) = new ReportBuilder(estimator, options).Build(Plan(n), z, seed: 5);
        foreach (var l in layers)
        {
            Assert.Equal(300, l.SampledPairs);
            Assert.Equal(300, l.PairMi!.Total);
            Assert.Equal(200, l.NullMi!.Total);
            Assert.Equal(l.PairMi.Edges, l.NullMi.Edges);
            Assert.Equal(s, l.Samples);
        }
        // The planted copy is far right of the null; the null's 0.99 quantile is below almost every... independent pair's tail.
        var layer0 = layers[0];
        Assert.True(layer0.NullQuantileValue < 0.2, $"null q99 {layer0.NullQuantileValue}");
        Assert.Equal(layer0.NullQuantileValue, layer0.Threshold!.Value);
        Assert.Contains("permutation null", layer0.Threshold.Source);
    }

    [Fact]
    public void SamplePairs_AreDistinctOrderedAndAllPairsWhenTheyFit()
    {
        var all = ReportBuilder.SamplePairs(10, 2000, new Random(1));
        Assert.Equal(45, all.Length);
        Assert.Equal(45, all.Distinct().Count());
        var some = ReportBuilder.SamplePairs(100, 2000, new Random(1));
        Assert.Equal(2000, some.Length);
        Assert.Equal(2000, some.Distinct().Count());
        Assert.All(some, p => Assert.True(p.I < p.J && p.J < 100));
    }

    [Fact]
    public void Histogram_PutsValuesOnTheirEdges()
    {
        double[] edges = [0, 0.1, 0.2, 0.30000000000000004];
        var h = ReportBuilder.Histogram(edges, [0, 0.1, 0.19999, 0.2, 0.3, 0.30000000000000004, 0.05]);
        Assert.Equal(new long[] { 2, 2, 3 }, h.Counts);
    }

    [Fact]
    public void HeatmapAndCards_FindThePlantedPair_ScatterPointsAreRowsOfZ()
    {
        const int s = 500, n = 100;
        var z = new[] { SyntheticPlanted(0, s, n, 3), SyntheticPlanted(1, s, n, 4) };
        var estimator = MiEstimators.Create("plugin", new MiEstimatorOptions { Bins = 8 });
        var options = new ReportBuilderOptions { PairsPerLayer = 200, NullPairs = 100, HeatmapCandidates = 24, HeatmapSize = 6, ScatterPoints = 50 };
        var (layers, cards) = new ReportBuilder(estimator, options).Build(Plan(n), z, seed: 9);

        var map = layers[0].Heatmap!;
        Assert.Equal(6, map.Neurons.Length);
        Assert.Equal([7, 2], map.Neurons.Take(2).Order().Reverse().ToArray());
        Assert.True(map.Removed[Array.IndexOf(map.Neurons, 7)]);
        Assert.False(map.Removed[Array.IndexOf(map.Neurons, 2)]);
        // Heatmap values equal a plain estimate of the same pair.
        double plain = estimator.Estimate(Column(z[0], 7), Column(z[0], 2));
        Assert.Equal(plain, map.Values[Array.IndexOf(map.Neurons, 7) * 6 + Array.IndexOf(map.Neurons, 2)], 5);

        Assert.Equal(2, cards.Count);
        var card = cards[0]; // highest plan MI first
        Assert.Equal((0, 7, 2), (card.Layer, card.Neuron, card.Partner));
        Assert.Equal(1.5, card.Mi);
        Assert.Equal(plain, card.ReportMi!.Value, 5);
        Assert.True(card.Correlation > 0.99);
        Assert.Equal(50, card.X.Length);
        var rows = Enumerable.Range(0, s).Select(r => (z[0].Data.Span[r * n + 7], z[0].Data.Span[r * n + 2])).ToHashSet();
        for (int i = 0; i < card.X.Length; i++) Assert.Contains((card.X[i], card.Y[i]), rows);
        Assert.Equal((1, 4, 9), (cards[1].Layer, cards[1].Neuron, cards[1].Partner));
    }

    [Fact]
    public void SameSeed_SameReport_AbsoluteThresholdPassesThrough()
    {
        const int n = 30;
        var z = new[] { SyntheticPlanted(0, 300, n, 5), SyntheticPlanted(1, 300, n, 6) };
        var estimator = MiEstimators.Create("plugin", new MiEstimatorOptions { Bins = 8 });
        var plan = Plan(n, new PlanParameters().Set("threshold_mode", "absolute").Set("threshold", 0.25));
        var b = new ReportBuilder(estimator, new ReportBuilderOptions { PairsPerLayer = 100, NullPairs = 50 });
        var (a1, c1) = b.Build(plan, z, 3);
        var (a2, c2) = b.Build(plan, z, 3);
        var r1 = new PruneReport { Title = "t", Summary = ReportSummary.FromPlan(plan), Layers = a1, Cards = c1 };
        var r2 = new PruneReport { Title = "t", Summary = ReportSummary.FromPlan(plan), Layers = a2, Cards = c2 };
        Assert.Equal(ReportJson.Serialize(r1), ReportJson.Serialize(r2));
        Assert.Equal(0.25, a1[0].Threshold!.Value);
        // A layer without activations keeps its counts and still gets cards from the plan (without points).
        var (partial, partialCards) = b.Build(plan, l => l == 0 ? z[0] : null, 3);
        Assert.Null(partial[1].PairMi);
        Assert.Equal((n - 1, 1), (partial[1].Kept, partial[1].Removed));
        Assert.Empty(partialCards.Single(c => c.Layer == 1).X);
    }

    private static float[] Column(LayerActivations z, int j) => z.Column(j).Select(v => (float)v).ToArray();
}
