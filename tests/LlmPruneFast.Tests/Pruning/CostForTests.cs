using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>
/// The MI methods' <c>cost_for</c> bias | none: greedy removal by the output error that compensation leaves,
/// checked against a plain computation of that error and against the layer's actual output after compensation.
/// </summary>
public sealed class CostForTests
{
    /// <summary>Plain sum_{i,k in R} (w_i . w_k) (C_ik [+ mu_i mu_k]) from the covariance and the down columns.</summary>
    private static double PlainError(FfnLayer layer, LayerActivations z, IReadOnlyCollection<int> removed, bool withMean)
    {
        var cov = ObsTests.Covariance(z);
        int n = layer.Neurons, d = layer.Hidden;
        var mean = Enumerable.Range(0, n).Select(j => z.Column(j).Average()).ToArray();
        double e = 0;
        foreach (int i in removed)
            foreach (int k in removed)
            {
                double g = 0;
                for (int o = 0; o < d; o++) g += (double)layer.Down.Span[o * n + i] * layer.Down.Span[o * n + k];
                e += g * (cov[i, k] + (withMean ? mean[i] * mean[k] : 0));
            }
        return e;
    }

    [Theory]
    [InlineData("bias", 9, 4, 400, 3)]
    [InlineData("none", 9, 4, 400, 3)]
    [InlineData("bias", 12, 5, 300, 8)]
    [InlineData("none", 12, 5, 300, 8)]
    public void PearsonGreedyTakesTheLeastPlainErrorAtEveryStep(string target, int n, int d, int s, int seed)
    {
        var (layer, z) = ObsTests.Correlated(n, d, s, seed);
        bool withMean = target == "none";
        var order = PruningSelectors.Create("mi-conditional", new PlanParameters().Set("cost_for", target))
            .Select(new SelectionRequest(new LayerInputs(layer, z, null), n - 1, 0, null, default));
        AssertEachStepTakesTheLeast(order, n, removed => PlainError(layer, z, removed, withMean), 1e-9, 1e-8);
    }

    /// <summary>
    /// A greedy removal order takes, at every step, a neuron whose removal (with those already removed) gives the least
    /// <paramref name="error"/>, and scores it by the error it adds (floored at 0), within the relative tolerances.
    /// </summary>
    internal static void AssertEachStepTakesTheLeast(IReadOnlyList<RemovedNeuron> order, int n, Func<int[], double> error, double pickTolerance, double scoreTolerance)
    {
        var removed = new List<int>();
        double before = 0;
        foreach (var r in order)
        {
            var after = Enumerable.Range(0, n).Except(removed).ToDictionary(j => j, j => error([.. removed, j]));
            double least = after.Values.Min();
            double scale = Math.Max(1.0, Math.Abs(least));
            Assert.True(after[r.Neuron] <= least + pickTolerance * scale, $"step {removed.Count}: took {r.Neuron} ({after[r.Neuron]}), least {least}");
            Assert.Equal(Math.Max(after[r.Neuron] - before, 0), r.Score, scoreTolerance * scale);
            before = after[r.Neuron];
            removed.Add(r.Neuron);
        }
    }

    [Fact]
    public void PlainErrorIsTheCompensatedLayersOutputError()
    {
        // The cost's error model, checked against the layer itself: bias (none) compensation leaves exactly
        // sum (w_i . w_k) C_ik (+ mu_i mu_k) of mean squared output error per row.
        var (layer, z) = ObsTests.Correlated(10, 4, 500, 5);
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        int[] removed = [1, 4, 6, 7];
        var plan = new LayerPlan(0, Enumerable.Range(0, 10).Except(removed).ToArray(),
            removed.Select(j => new RemovedNeuron(j, null, null, 0, "test")).ToArray());
        var dense = syn.DenseOutput();
        foreach (var (kind, withMean) in new[] { (CompensationKind.Bias, false), (CompensationKind.None, true) })
        {
            var pruned = syn.SlicedOutput(Compensator.Apply(layer, plan, new CompensationOptions(kind), new LayerStatistics(z)));
            double sq = dense.Zip(pruned, (a, b) => (a - b) * (a - b)).Sum() / z.Rows;
            double plain = PlainError(layer, z, removed, withMean);
            Assert.Equal(plain, sq, 1e-4 * plain);
        }
    }

    /// <summary>
    /// Planted: neurons 0 and 1 carry the same signal into the same output direction (z_1 = z_0 + small noise,
    /// w_1 = w_0), each with lone cost ||w||^2 Var = 1; neurons 2..n-1 are independent with lone cost 1.5 and
    /// orthogonal down columns. Removing two under bias: flap (and the kept-set cost, which sees 0 and 1 as
    /// redundant) take 0 and 1, whose errors add coherently (about 4); the interaction-aware cost takes one of them
    /// and an independent neuron (about 2.5).
    /// </summary>
    private static (FfnLayer Layer, LayerActivations Z) Coherent(int n, int s, int seed)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        int d = n;   // down column j = scale_j e_j, except w_1 = w_0
        var down = new float[d * n];
        for (int j = 0; j < n; j++)
        {
            int dir = j == 1 ? 0 : j;
            down[dir * n + j] = j < 2 ? 1f : (float)Math.Sqrt(1.5);
        }
        var z = new float[s * n];
        for (int r = 0; r < s; r++)
        {
            double x = Normal();
            z[r * n + 0] = (float)(1 + x);
            z[r * n + 1] = (float)(2 + x + 0.05 * Normal());
            for (int j = 2; j < n; j++) z[r * n + j] = (float)(0.5 + Normal());
        }
        var gate = new float[d * n];
        var up = new float[d * n];
        return (new FfnLayer(0, n, d, gate, up, down), new LayerActivations(0, s, n, z));
    }

    [Fact]
    public void UnderBiasTheInteractionAwareOrderLeavesLessErrorThanTheKeptCostAndFlapOnAPlantedPair()
    {
        var (layer, z) = Coherent(8, 2000, 3);
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var dense = syn.DenseOutput();
        double Error(IPruningSelector selector)
        {
            var order = selector.Select(new SelectionRequest(new LayerInputs(layer, z, new TestInformation("gaussian")), 2, 0, null, default));
            var removed = order.Select(r => r.Neuron).ToArray();
            var plan = new LayerPlan(0, Enumerable.Range(0, layer.Neurons).Except(removed).ToArray(), order);
            var pruned = syn.SlicedOutput(Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Bias), new LayerStatistics(z)));
            return dense.Zip(pruned, (a, b) => (a - b) * (a - b)).Sum() / z.Rows;
        }
        double flap = Error(new FlapSelector());
        double kept = Error(new MiConditionalSelector());
        double keptWeighted = Error(new MiWeightedSelector(debias: false));
        double aware = Error(new MiConditionalSelector(costFor: CostTarget.Bias));
        double awareWeighted = Error(new MiWeightedSelector(debias: false, costFor: CostTarget.Bias));
        Assert.True(flap > 3.5 && kept > 3.5 && keptWeighted > 3.5, $"flap {flap}, kept {kept}, mi-weighted kept {keptWeighted}");
        Assert.True(aware < 2.8 && awareWeighted < 2.8, $"mi-conditional {aware}, mi-weighted {awareWeighted}");
    }

    [Fact]
    public void MiWeightedWithExactGaussianInformationIsThePearsonCostAndStrengthZeroIsFlap()
    {
        // The test estimator's "gaussian" MI is -1/2 ln(1 - r^2) of the sample correlation, so |rho| from MI is |r|
        // and, with the covariance's sign, mi-weighted's interactions are mi-conditional's pearson ones.
        var (layer, z) = ObsTests.Correlated(12, 4, 400, 21);
        SelectionRequest Request() => new(new LayerInputs(layer, z, new TestInformation("gaussian")), 9, 5, null, default);
        foreach (var target in new[] { "bias", "none" })
        {
            var weighted = PruningSelectors.Create("mi-weighted", new PlanParameters().Set("debias", false).Set("cost_for", target)).Select(Request());
            var conditional = PruningSelectors.Create("mi-conditional", new PlanParameters().Set("cost_for", target)).Select(Request());
            Assert.Equal(conditional.Select(r => r.Neuron), weighted.Select(r => r.Neuron));
            for (int i = 0; i < weighted.Count; i++)
                Assert.Equal(conditional[i].Score, weighted[i].Score, 1e-6 * Math.Max(1, conditional[i].Score));
        }
        var zero = PruningSelectors.Create("mi-weighted", new PlanParameters().Set("strength", 0.0).Set("cost_for", "bias")).Select(Request());
        var flap = new FlapSelector().Select(Request());
        Assert.Equal(flap.Select(r => r.Neuron), zero.Select(r => r.Neuron));
    }

    [Fact]
    public void ParametersSayTheTargetOnlyWhenItIsNotTheDefaultAndRoundTrip()
    {
        Assert.False(new MiConditionalSelector().Parameters.Contains("cost_for"));
        Assert.False(new MiWeightedSelector().Parameters.Contains("cost_for"));
        var c = PruningSelectors.Create("mi-conditional", new PlanParameters().Set("cost_for", "none").Set("space", "copula"));
        Assert.Equal("none", c.Parameters.GetString("cost_for", ""));
        var again = (MiConditionalSelector)PruningSelectors.Create("mi-conditional", c.Parameters);
        Assert.Equal((CostTarget.None, "copula"), (again.CostFor, again.Space));
        var w = PruningSelectors.Create("mi-weighted", new PlanParameters().Set("cost_for", "bias"));
        Assert.Equal(CostTarget.Bias, ((MiWeightedSelector)PruningSelectors.Create("mi-weighted", w.Parameters)).CostFor);
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-weighted", new PlanParameters().Set("cost_for", "refit")));
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-conditional", new PlanParameters().Set("cost_for", "bias").Set("update", true)));
    }
}
