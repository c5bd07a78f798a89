using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>
/// The cost_for bias | none error over every position of the sequences run: the sample (which leaves out each
/// sequence's leading special token) plus the leading positions at their share pi. Checked against the output error
/// the compensation, as applied (its constant from the sample alone), leaves on all those positions of the layer itself.
/// </summary>
public sealed class LeadingCostTests
{
    /// <summary>
    /// A correlated sample (<see cref="ObsTests.Correlated"/>) and M leading rows unlike it: every neuron is shifted
    /// and a few take outlier values there, as [CLS] and BOS do in real models. pi = M / (M + S): the sample is every
    /// eligible position, so the true error is the plain mean over all S + M rows.
    /// </summary>
    private static (FfnLayer Layer, LayerActivations Sample, LayerActivations WithLeading, LayerActivations AllRows) Build(int n, int d, int s, int m, int seed)
    {
        var (layer, sample) = ObsTests.Correlated(n, d, s, seed);
        var rng = new Random(seed + 100);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var lead = new float[m * n];
        for (int r = 0; r < m; r++)
            for (int j = 0; j < n; j++)
                lead[r * n + j] = (float)(0.5 * j - 1.5 + Normal() + (j % 4 == 1 ? 6 + 2 * Normal() : 0));
        var leading = new LeadingActivations(m, n, lead, (double)m / (m + s));
        var withLeading = new LayerActivations(0, s, n, sample.Data, leading);
        var all = new LayerActivations(0, s + m, n, sample.Data.ToArray().Concat(lead).ToArray());
        return (layer, sample, withLeading, all);
    }

    /// <summary>Mean squared output error of the layer on every row of <paramref name="all"/>, R removed and compensated as applied (statistics of the sample).</summary>
    private static double AppliedError(FfnLayer layer, LayerActivations sample, LayerActivations all, IReadOnlyCollection<int> removed, CompensationKind kind)
    {
        var syn = new SyntheticFfn { Layer = layer, Activations = all };
        var plan = new LayerPlan(0, Enumerable.Range(0, layer.Neurons).Except(removed).ToArray(),
            removed.Select(j => new RemovedNeuron(j, null, null, 0, "test")).ToArray());
        var pruned = syn.SlicedOutput(Compensator.Apply(layer, plan, new CompensationOptions(kind), new LayerStatistics(sample)));
        return syn.DenseOutput().Zip(pruned, (a, b) => (a - b) * (a - b)).Sum() / all.Rows;
    }

    private static IReadOnlyList<RemovedNeuron> Order(FfnLayer layer, LayerActivations z, string target, int removals) =>
        PruningSelectors.Create("mi-conditional", new PlanParameters().Set("cost_for", target))
            .Select(new SelectionRequest(new LayerInputs(layer, z, null), removals, 0, null, default));

    [Theory]
    [InlineData("bias", 10, 4, 300, 40, 3)]
    [InlineData("none", 10, 4, 300, 40, 3)]
    [InlineData("bias", 13, 5, 400, 25, 8)]
    [InlineData("none", 13, 5, 400, 25, 8)]
    public void GreedyTakesTheLeastErrorTheAppliedCompensationLeavesOnEveryPosition(string target, int n, int d, int s, int m, int seed)
    {
        var (layer, sample, withLeading, all) = Build(n, d, s, m, seed);
        var kind = target == "bias" ? CompensationKind.Bias : CompensationKind.None;
        var order = Order(layer, withLeading, target, n - 1);
        CostForTests.AssertEachStepTakesTheLeast(order, n, removed => AppliedError(layer, sample, all, removed, kind), 1e-6, 1e-5);
        // The leading positions matter here: the sample-only order is another one (so dropping T or pi fails above).
        Assert.NotEqual(Order(layer, sample, target, n - 1).Select(r => r.Neuron), order.Select(r => r.Neuron));
        Assert.Contains("leading positions at pi = ", order[0].Reason);
    }

    [Fact]
    public void LeadingSecondMomentIsAboutTheGivenConstantAndShareIsCarried()
    {
        var (_, _, withLeading, _) = Build(6, 3, 50, 7, 1);
        var st = new LayerStatistics(withLeading);
        Assert.Equal(7.0 / 57, st.LeadingShare, 15);
        var c = new[] { 0.0, 1, -2, 0.5, 3, 0.25 };
        var t = st.LeadingSecondMoment(c)!;
        var lead = withLeading.Leading!.Data.Span;
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 6; k++)
            {
                double plain = 0;
                for (int r = 0; r < 7; r++) plain += (lead[r * 6 + i] - c[i]) * (lead[r * 6 + k] - c[k]);
                Assert.Equal(plain / 7, t[i * 6 + k], 1e-9 * Math.Max(1, Math.Abs(plain)));
            }
        Assert.Null(new LayerStatistics(new LayerActivations(0, 50, 6, withLeading.Data)).LeadingSecondMoment(c));
        Assert.Equal(0.0, new LayerStatistics(new LayerActivations(0, 50, 6, withLeading.Data)).LeadingShare);
    }

    [Fact]
    public void LeadingRowsAreCheckedLikeTheSample()
    {
        Assert.Throws<BadDataException>(() => new LeadingActivations(2, 3, new float[5], 0.1));
        Assert.Throws<BadDataException>(() => new LeadingActivations(2, 3, new float[6], 0.0));
        var nan = new LeadingActivations(1, 3, new[] { 1f, float.NaN, 0f }, 0.1);
        Assert.Contains("activations of layer 4: NaN at the leading position of sequence 0, neuron 1",
            Assert.Throws<BadDataException>(() => new LayerActivations(4, 2, 3, new float[6], nan)).Message);
        var leading = new LeadingActivations(1, 2, new[] { 1f, 2f }, 0.1);
        Assert.Throws<BadDataException>(() => new LayerActivations(0, 2, 3, new float[6], leading));
    }
}
