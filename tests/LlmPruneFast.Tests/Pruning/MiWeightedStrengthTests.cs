using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>mi-weighted's <c>strength</c> beta in exp(-2 beta (I - m0)): 0 must reduce it to flap's order.</summary>
public sealed class MiWeightedStrengthTests
{
    [Fact]
    public void StrengthZeroIsFlapAndStrengthOneIsTheDefault()
    {
        var (layer, z) = ObsTests.Correlated(12, 4, 400, 21);
        SelectionRequest Request() => new(new LayerInputs(layer, z, new TestInformation("gaussian")), 8, 5, null, default);
        var zero = PruningSelectors.Create("mi-weighted", new PlanParameters().Set("strength", 0.0)).Select(Request());
        var flap = new FlapSelector().Select(Request());
        Assert.Equal(flap.Select(r => r.Neuron), zero.Select(r => r.Neuron));
        for (int i = 0; i < flap.Count; i++) Assert.Equal(flap[i].Score, zero[i].Score, 1e-12 * Math.Max(1, flap[i].Score));
        var one = PruningSelectors.Create("mi-weighted", new PlanParameters().Set("strength", 1.0)).Select(Request());
        var byDefault = PruningSelectors.Create("mi-weighted").Select(Request());
        Assert.Equal(byDefault.Select(r => (r.Neuron, r.Score)), one.Select(r => (r.Neuron, r.Score)));
        Assert.NotEqual(flap.Select(r => r.Neuron), one.Select(r => r.Neuron));
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-weighted", new PlanParameters().Set("strength", -1.0)));
    }
}
