using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

public sealed class PrunerTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void RatioOutsideOpenUnitIntervalIsBadArgument(double ratio)
    {
        var e = Assert.Throws<BadArgumentException>(() => new PruningBudget(BudgetKind.Uniform, ratio));
        Assert.Contains("--ratio", e.Message);
    }

    [Fact]
    public void RatioThatEmptiesALayerIsBadArgument()
    {
        // round(0.9 * 3) = 3 of 3 neurons.
        var e = Assert.Throws<BadArgumentException>(() => new PruningBudget(BudgetKind.Uniform, 0.9).OrderLengths([10, 3]));
        Assert.Contains("would empty layer 1", e.Message);
        // Global: floor makes 0.9 impossible with a 20% floor.
        Assert.Throws<BadArgumentException>(() => new PruningBudget(BudgetKind.Global, 0.9, 0.2));
    }

    [Fact]
    public void UnknownMethodOrParameterIsBadArgument()
    {
        Assert.Contains("unknown method 'mi-magic'", Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-magic")).Message);
        Assert.Contains("no parameter 'bins'", Assert.Throws<BadArgumentException>(() =>
            PruningSelectors.Create("flap", new PlanParameters().Set("bins", 3L))).Message);
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-random-pairs", new PlanParameters().Set("threshold_mode", "absolute")));
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("obs", new PlanParameters().Set("damping", 0.0)));
        foreach (var name in PruningSelectors.Names) Assert.Equal(name, PruningSelectors.Create(name).Name);
    }

    [Fact]
    public void MiMethodWithoutEstimatorIsBadArgument()
    {
        var syn = SyntheticFfn.Create(20, 4, 100, 0, 1, 1);
        var e = Assert.Throws<BadArgumentException>(() => Pruner.Plan(ModelFingerprint.Compute("m", [syn.Layer]),
            new InMemoryLayerSource([syn.Layer], [syn.Activations]),
            new PruningOptions { Selector = new MiGreedySelector(), Budget = new PruningBudget(BudgetKind.Uniform, 0.2) }));
        Assert.Contains("needs an MI estimator", e.Message);
    }

    public static TheoryData<string, string> AllMethodsAndCompensations()
    {
        var d = new TheoryData<string, string>();
        foreach (var m in PruningSelectors.Names)
            foreach (var c in new[] { "none", "bias", "partner", "refit" }) d.Add(m, c);
        return d;
    }

    [Theory]
    [MemberData(nameof(AllMethodsAndCompensations))]
    public void RemovingZeroNeuronsChangesNothing(string method, string compensation)
    {
        // round(0.004 * 36) = 0 removals in each layer.
        var syn = new[] { SyntheticFfn.Create(30, 8, 300, 6, 2, 31, 0, downBias: true), SyntheticFfn.Create(30, 8, 300, 6, 2, 32, 1) };
        var layers = syn.Select(s => s.Layer).ToArray();
        var (plan, sliced) = Pruner.Prune(ModelFingerprint.Compute("m", layers),
            new InMemoryLayerSource(layers, syn.Select(s => s.Activations).ToArray()),
            new PruningOptions
            {
                Selector = PruningSelectors.Create(method),
                Estimator = new TestInformation("gaussian"),
                Budget = new PruningBudget(BudgetKind.Uniform, 0.004),
                Compensation = new CompensationOptions(CompensationKinds.Parse(compensation)),
            });
        Assert.All(plan.Layers, l => Assert.Empty(l.Removed));
        for (int l = 0; l < 2; l++)
        {
            var layer = layers[l];
            Assert.Equal(Enumerable.Range(0, 36), sliced[l].Kept);
            Assert.Equal(layer.Gate.ToArray(), sliced[l].Gate);
            Assert.Equal(layer.Up.ToArray(), sliced[l].Up);
            Assert.Equal(layer.Down.ToArray().Select(v => (double)v), sliced[l].Down);
            Assert.Equal(layer.DownBias is { } b ? b.ToArray().Select(v => (double)v) : new double[8], sliced[l].DownBias);
            Assert.Equal(layer.DownBias != null, sliced[l].HasDownBias);
        }
    }

    [Theory]
    [MemberData(nameof(AllMethodsAndCompensations))]
    public void EveryMethodGivesAValidPlanAndApplyPlanReproducesPrune(string method, string compensation)
    {
        var (_, model, source, _) = PlanJsonTests.TwoLayerPlan();
        var options = new PruningOptions
        {
            Selector = PruningSelectors.Create(method),
            Estimator = new TestInformation("plugin", 8),
            Budget = new PruningBudget(BudgetKind.Uniform, 0.3),
            Compensation = new CompensationOptions(CompensationKinds.Parse(compensation)),
            Seed = 2,
        };
        var (plan, sliced) = Pruner.Prune(model, source, options);
        plan.Validate();
        Assert.Equal([36 - 11, 38 - 11], plan.Layers.Select(l => l.Kept.Count));
        var again = Pruner.ApplyPlan(PlanJson.Parse(PlanJson.Serialize(plan)), source).ToArray();
        for (int l = 0; l < 2; l++)
        {
            Assert.Equal(sliced[l].Kept, again[l].Kept);
            Assert.Equal(sliced[l].Down, again[l].Down);
            Assert.Equal(sliced[l].DownBias, again[l].DownBias);
            Assert.Equal(sliced[l].Kept.Length * 8, sliced[l].Up.Length);
            Assert.Equal(8 * sliced[l].Kept.Length, sliced[l].Down.Length);
        }
    }

    [Fact]
    public void MethodDefaultsForCompensation()
    {
        Assert.Equal(CompensationKind.Bias, PruningSelectors.Create("flap").DefaultCompensation);
        Assert.Equal(CompensationKind.Refit, PruningSelectors.Create("obs").DefaultCompensation);
        Assert.Equal(CompensationKind.Refit, PruningSelectors.Create("mi-conditional").DefaultCompensation);
        foreach (var m in new[] { "mi-random-pairs", "mi-cluster", "mi-greedy", "mi-weighted" })
            Assert.Equal(CompensationKind.Partner, PruningSelectors.Create(m).DefaultCompensation);
        foreach (var m in new[] { "magnitude", "wanda-sp", "random" })
            Assert.Equal(CompensationKind.None, PruningSelectors.Create(m).DefaultCompensation);
    }

    [Fact]
    public void GlobalBudgetMeetsTotalRespectsFloorsAndPrefersCheapLayers()
    {
        var widths = new[] { 10, 10, 10 };
        var budget = new PruningBudget(BudgetKind.Global, 0.5, 0.2);
        var lengths = budget.OrderLengths(widths);
        Assert.Equal([8, 8, 8], lengths);
        // Normalised by each layer's mean cost: layer 0 -> .005 .01 .26 .51 1.03 ..., layer 1 -> .33 x6 then 3,
        // layer 2 (flat) -> 1 x8. The 15 lowest: 4 of layer 0, 6 of layer 1, 5 of layer 2.
        IReadOnlyList<double>[] costs =
        [
            [0.01, 0.02, 0.5, 1, 2, 3, 4, 5],
            [1, 1, 1, 1, 1, 1, 9, 9],
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        ];
        var take = budget.Allocate(widths, costs);
        Assert.Equal(15, take.Sum());
        Assert.All(take, (t, l) => Assert.True(t <= lengths[l]));
        Assert.Equal([4, 6, 5], take);
        // Non-monotone costs: running maximum keeps prefixes (layer 0's cheap 0.01 after an expensive one counts as expensive).
        var take2 = budget.Allocate(widths, [[5, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01], [1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]]);
        Assert.Equal(15, take2.Sum());
    }

    [Fact]
    public void GlobalBudgetEndToEnd()
    {
        var (plan, model, _, _) = PlanJsonTests.TwoLayerPlan("flap", budget: BudgetKind.Global);
        long removed = plan.Layers.Sum(l => (long)l.Removed.Count);
        Assert.Equal((long)Math.Round(0.2 * model.Widths.Sum()), removed);
        Assert.All(plan.Layers, l => Assert.True(l.Kept.Count >= Math.Ceiling(0.3 * l.Width)));
        Assert.Equal("global", plan.Budget.Kind);
    }

    [Fact]
    public void CandidatesAreScoredAndTheLowestKlIsKept()
    {
        var (_, model, source, _) = PlanJsonTests.TwoLayerPlan();
        var seen = new List<PruningPlan>();
        var options = new PruningOptions
        {
            Selector = PruningSelectors.Create("mi-random-pairs", new PlanParameters().Set("candidates", 3L).Set("threshold_mode", "quantile").Set("quantile", 0.5)),
            Estimator = new TestInformation("plugin", 8),
            Budget = new PruningBudget(BudgetKind.Uniform, 0.25),
            Seed = 10,
            // A stand-in for KL: prefer the plan keeping the most of neuron ids 0..9 in layer 0.
            CandidateScorer = p => { seen.Add(p); return -p.Layers[0].Kept.Count(k => k < 10) - 0.001 * seen.Count; },
        };
        var plan = Pruner.Plan(model, source, options);
        Assert.Equal(3, seen.Count);
        Assert.Equal([10L, 11L, 12L], plan.Candidates.Select(c => c.Seed));
        int best = Enumerable.Range(0, 3).OrderBy(i => plan.Candidates[i].Kl).First();
        Assert.Equal(PlanJson.Serialize(seen[best] with { Candidates = plan.Candidates, MethodParameters = plan.MethodParameters }), PlanJson.Serialize(plan));
        Assert.Equal(10L + best, plan.MethodParameters.GetInt64("chosen_seed", -1));
    }

    [Fact]
    public void RandomPairsThresholdModes()
    {
        var syn = SyntheticFfn.Create(40, 8, 500, 5, 1, 3);
        var inputs = new LayerInputs(syn.Layer, syn.Activations, new TestInformation("gaussian"));
        var abs = new MiRandomPairsSelector(ThresholdMode.Absolute, 0.7);
        Assert.Equal(0.7, abs.LayerThreshold(inputs, 1, default));
        // Null: Gaussian MI of independent pairs ~ chi2(1) / (2S): its 0.99 quantile is about 6.6 / 1000 nats.
        double tNull = new MiRandomPairsSelector(ThresholdMode.Null, quantile: 0.99, samples: 400).LayerThreshold(inputs, 1, default);
        Assert.InRange(tNull, 0.002, 0.02);
        // Quantile of pair MI equals the quantile of the same sampled pairs computed here.
        var q = new MiRandomPairsSelector(ThresholdMode.Quantile, quantile: 0.5, samples: 300);
        var rng = new Random(SelectorMathSeed(5));
        var info = inputs.Information("t", default);
        var v = Enumerable.Range(0, 300).Select(_ => { int i = rng.Next(45), j = rng.Next(44); if (j >= i) j++; return info.Pair(i, j); }).Order().ToArray();
        Assert.Equal((v[149] + v[150]) / 2, q.LayerThreshold(inputs, 5, default), 12);
        // A loop with an unreachable threshold fills by importance and says so.
        var stalled = new MiRandomPairsSelector(ThresholdMode.Absolute, 1e6, maxDraws: 100)
            .Select(new SelectionRequest(inputs, 4, 1, null, default));
        Assert.All(stalled, r => Assert.StartsWith("mi-random-pairs fill", r.Reason));
        var imp = inputs.Importance;
        Assert.Equal(Enumerable.Range(0, 45).OrderBy(j => imp[j]).Take(4), stalled.Select(r => r.Neuron));
    }

    private static int SelectorMathSeed(long seed) => (int)(Mix(seed) & 0x7FFFFFFF);

    private static long Mix(long x)
    {
        ulong z = unchecked((ulong)x + 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((long)(z ^ (z >> 31)));
    }

    [Fact]
    public void ActivationsOfTheWrongShapeAreBadData()
    {
        var syn = SyntheticFfn.Create(10, 4, 50, 0, 1, 1);
        var other = SyntheticFfn.Create(12, 4, 50, 0, 1, 1);
        Assert.Throws<BadDataException>(() => new LayerInputs(syn.Layer, other.Activations, null));
        Assert.Throws<BadDataException>(() => new LayerActivations(0, 3, 2, new float[5]));
        Assert.Throws<BadDataException>(() => new LayerActivations(0, 2, 1, new[] { 1f, float.NaN }));
    }
}
