using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

public sealed class CompensationTests
{
    private static LayerPlan RandomPlan(int n, int removeCount, int seed)
    {
        var rng = new Random(seed);
        var removed = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(removeCount).ToArray();
        var kept = Enumerable.Range(0, n).Except(removed).Order().ToArray();
        return new LayerPlan(0, kept, removed.Select(j => new RemovedNeuron(j, null, null, 0, "test")).ToArray());
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.3)]
    [InlineData(0.5)]
    public void RefitBeatsBiasBeatsNone(double fraction)
    {
        var (layer, z) = ObsTests.Correlated(40, 12, 800, 9);
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var plan = RandomPlan(40, (int)(40 * fraction), 4);
        var stats = new LayerStatistics(z);
        var dense = syn.DenseOutput();
        double Err(CompensationKind k) => SyntheticFfn.RelativeError(dense,
            syn.SlicedOutput(Compensator.Apply(layer, plan, new CompensationOptions(k, 1e-4), stats)));
        double none = Err(CompensationKind.None), bias = Err(CompensationKind.Bias),
            partner = Err(CompensationKind.Partner), refit = Err(CompensationKind.Refit);
        Assert.True(bias < none, $"bias {bias} vs none {none}");
        Assert.True(partner < none, $"partner {partner} vs none {none}");
        Assert.True(refit < bias && refit < partner, $"refit {refit} vs bias {bias}, partner {partner}");
    }

    [Fact]
    public void RefitWithHugeRidgeIsBiasAndWithZeroRidgeIsLeastSquares()
    {
        var (layer, z) = ObsTests.Correlated(10, 4, 300, 2);
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var plan = RandomPlan(10, 4, 1);
        var stats = new LayerStatistics(z);
        var bias = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Bias), stats);
        var huge = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Refit, 1e12), stats);
        for (int i = 0; i < bias.Down.Length; i++) Assert.Equal(bias.Down[i], huge.Down[i], 1e-9);
        for (int i = 0; i < bias.DownBias.Length; i++) Assert.Equal(bias.DownBias[i], huge.DownBias[i], 1e-8);
        // Zero ridge: the residual is orthogonal to every kept activation and to the constant (normal equations).
        var ls = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Refit, 0), stats);
        var dense = syn.DenseOutput();
        var pruned = syn.SlicedOutput(ls);
        int d = layer.Hidden;
        foreach (int k in plan.Kept.Append(-1))
            for (int o = 0; o < d; o++)
            {
                double dot = 0, scale = 0;
                for (int s = 0; s < z.Rows; s++)
                {
                    double zk = k < 0 ? 1.0 : z.Data.Span[s * 10 + k];
                    dot += (dense[s * d + o] - pruned[s * d + o]) * zk;
                    scale += Math.Abs(dense[s * d + o] * zk);
                }
                Assert.True(Math.Abs(dot) < 1e-9 * scale, $"residual not orthogonal to {(k < 0 ? "constant" : $"z_{k}")}: {dot}");
            }
    }

    [Fact]
    public void BiasCompensationIsExactForConstantNeurons()
    {
        const int n = 12, d = 5, s = 100;
        var (layer, zr) = ObsTests.Correlated(n, d, s, 3);
        var data = zr.Data.ToArray();
        int[] constant = [2, 7, 9];
        for (int r = 0; r < s; r++) foreach (int j in constant) data[r * n + j] = 0.75f * (j - 5);
        var z = new LayerActivations(0, s, n, data);
        var plan = new LayerPlan(0, Enumerable.Range(0, n).Except(constant).ToArray(),
            constant.Select(j => new RemovedNeuron(j, null, null, 0, "constant")).ToArray());
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var sliced = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Bias), new LayerStatistics(z));
        Assert.True(sliced.HasDownBias);
        Assert.True(SyntheticFfn.RelativeError(syn.DenseOutput(), syn.SlicedOutput(sliced)) < 1e-12);
        // And flap ranks constant neurons first (zero variance = zero cost).
        var order = new FlapSelector().Select(new SelectionRequest(new LayerInputs(layer, z, null), 3, 0, null, default));
        Assert.Equal(constant, order.Select(r => r.Neuron).Order().ToArray());
    }

    [Fact]
    public void PartnerMergeChainsThroughALaterRemovedPartner()
    {
        // z1 = 2 z0 + 1 and z2 = -z0 + 3: remove 1 into partner 2, then 2 into partner 0: exact.
        const int s = 50, d = 3;
        var rng = new Random(1);
        var data = new float[s * 4];
        for (int r = 0; r < s; r++)
        {
            float z0 = (float)rng.NextDouble();
            data[r * 4 + 0] = z0; data[r * 4 + 1] = 2 * z0 + 1; data[r * 4 + 2] = -z0 + 3; data[r * 4 + 3] = (float)rng.NextDouble();
        }
        var z = new LayerActivations(0, s, 4, data);
        var down = Enumerable.Range(0, d * 4).Select(i => (float)Math.Sin(i + 1)).ToArray();
        var layer = new FfnLayer(0, 4, d, new float[4 * d], new float[4 * d], down);
        var plan = new LayerPlan(0, [0, 3], [new RemovedNeuron(1, 2, 5.0, 0, "t"), new RemovedNeuron(2, 0, 5.0, 0, "t")]);
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var sliced = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Partner), new LayerStatistics(z));
        Assert.True(SyntheticFfn.RelativeError(syn.DenseOutput(), syn.SlicedOutput(sliced)) < 1e-6);
        // Without a partner the most correlated kept neuron is used: still exact here.
        var noPartner = plan with { Removed = plan.Removed.Select(r => r with { Partner = null }).ToArray() };
        var sliced2 = Compensator.Apply(layer, noPartner, new CompensationOptions(CompensationKind.Partner), new LayerStatistics(z));
        Assert.True(SyntheticFfn.RelativeError(syn.DenseOutput(), syn.SlicedOutput(sliced2)) < 1e-6);
    }

    [Fact]
    public void CompensationWithoutActivationsIsAClearError()
    {
        var (layer, _) = ObsTests.Correlated(6, 2, 10, 1);
        var plan = RandomPlan(6, 2, 1);
        var e = Assert.Throws<MissingInputException>(() => Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.Refit), null));
        Assert.Contains("refit", e.Message);
        var none = Compensator.Apply(layer, plan, new CompensationOptions(CompensationKind.None), null);
        Assert.Equal(4, none.Width);
    }
}
