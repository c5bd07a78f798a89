using LlmPruneFast.Capture;
using LlmPruneFast.Information;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary><c>mi-conditional</c> against plain reference computations of its formula.</summary>
public sealed class MiConditionalTests
{
    /// <summary>Normal scores by a plain sort: g_s = Phi^-1((rank_s + 1)/(S + 1)), centred, unit norm.</summary>
    private static double[] PlainScores(double[] column)
    {
        int s = column.Length;
        var order = Enumerable.Range(0, s).OrderBy(i => column[i]).ThenBy(i => i).ToArray();
        var g = new double[s];
        for (int p = 0; p < s; p++) g[order[p]] = NormalDistribution.InverseCdf((p + 1.0) / (s + 1.0));
        double mean = g.Average();
        double norm = Math.Sqrt(g.Sum(v => (v - mean) * (v - mean)));
        return g.Select(v => (v - mean) / norm).ToArray();
    }

    /// <summary>The reference's unit vectors whose dot products are R: normal scores (copula) or the centred, unit-norm column (pearson).</summary>
    private static double[] Unit(double[] column, string space)
    {
        if (space == "copula") return PlainScores(column);
        double mean = column.Average();
        double norm = Math.Sqrt(column.Sum(v => (v - mean) * (v - mean)));
        return column.Select(v => (v - mean) / norm).ToArray();
    }

    /// <summary>Skewed, monotone-dependent columns: z_j = exp(a_j . x) + small noise (non-Gaussian marginals).</summary>
    private static (FfnLayer Layer, LayerActivations Z) Skewed(int n, int d, int s, int seed)
    {
        var (layer, z) = ObsTests.Correlated(n, d, s, seed);
        var data = z.Data.ToArray();
        for (int i = 0; i < data.Length; i++) data[i] = (float)Math.Exp(0.3 * data[i]);
        return (layer, new LayerActivations(0, s, n, data));
    }

    [Theory]
    [InlineData(7, 4, 300, 1, "copula")]
    [InlineData(9, 3, 500, 2, "copula")]
    [InlineData(7, 4, 300, 1, "pearson")]
    [InlineData(9, 3, 500, 2, "pearson")]
    public void FirstCostIsEnergyTimesOneMinusRSquared(int n, int d, int s, int seed, string space)
    {
        // With negligible damping, cost_j = ||w_j||^2 Var(z_j) (1 - R^2_j), R^2_j the R^2 of the least-squares
        // regression of j's normal scores on all the others' (plain normal equations).
        var (layer, z) = Skewed(n, d, s, seed);
        var g = Enumerable.Range(0, n).Select(j => Unit(z.Column(j), space)).ToArray();
        var costs = new double[n];
        for (int j = 0; j < n; j++)
        {
            var others = Enumerable.Range(0, n).Where(k => k != j).ToArray();
            var a = new double[others.Length, others.Length];
            var b = new double[others.Length, 1];
            for (int p = 0; p < others.Length; p++)
            {
                for (int q = 0; q < others.Length; q++) a[p, q] = Dot(g[others[p]], g[others[q]]);
                b[p, 0] = Dot(g[others[p]], g[j]);
            }
            var beta = ObsTests.Solve(a, b);
            double explained = 0;
            for (int p = 0; p < others.Length; p++) explained += beta[p, 0] * b[p, 0];   // g_j unit norm: R^2 = b^T beta
            var col = z.Column(j);
            double mean = col.Average(), variance = col.Sum(v => (v - mean) * (v - mean)) / s;
            double w2 = 0;
            for (int o = 0; o < d; o++) w2 += Math.Pow(layer.Down.Span[o * n + j], 2);
            costs[j] = w2 * variance * (1 - explained);
        }
        var order = new MiConditionalSelector(update: false, space: space, damping: 1e-10)
            .Select(new SelectionRequest(new LayerInputs(layer, z, null), 1, 0, null, default));
        int best = Enumerable.Range(0, n).OrderBy(j => costs[j]).First();
        Assert.Equal(best, order[0].Neuron);
        Assert.Equal(costs[best], order[0].Score, 1e-6 * costs[best]);
    }

    [Theory]
    [InlineData(7, 4, 300, 3, 0.01, "copula")]
    [InlineData(8, 5, 400, 4, 0.05, "copula")]
    [InlineData(7, 4, 300, 3, 0.01, "pearson")]
    public void GreedyWithoutUpdateMatchesDirectInverseOverTheKeptSet(int n, int d, int s, int seed, double damping, string space)
    {
        // Every step: cost_j = ||w_j||^2 / [(H_KK)^-1]_jj, H = D R D + delta I, delta = damping tr(D R D) / N,
        // with (H_KK)^-1 solved directly for the current kept set K.
        var (layer, z) = Skewed(n, d, s, seed);
        var g = Enumerable.Range(0, n).Select(j => Unit(z.Column(j), space)).ToArray();
        var std = Enumerable.Range(0, n).Select(j =>
        {
            var c = z.Column(j);
            double m = c.Average();
            return Math.Sqrt(c.Sum(v => (v - m) * (v - m)) / s);
        }).ToArray();
        var h = new double[n, n];
        for (int i = 0; i < n; i++) for (int k = 0; k < n; k++) h[i, k] = std[i] * std[k] * (i == k ? 1.0 : Dot(g[i], g[k]));
        double delta = damping * Enumerable.Range(0, n).Sum(i => h[i, i]) / n;
        for (int i = 0; i < n; i++) h[i, i] += delta;
        var w2 = Enumerable.Range(0, n).Select(j => Enumerable.Range(0, d).Sum(o => Math.Pow(layer.Down.Span[o * n + j], 2))).ToArray();

        var order = new MiConditionalSelector(update: false, space: space, damping: damping)
            .Select(new SelectionRequest(new LayerInputs(layer, z, null), n - 1, 0, null, default));
        var kept = Enumerable.Range(0, n).ToList();
        foreach (var removal in order)
        {
            var hkk = new double[kept.Count, kept.Count];
            var eye = new double[kept.Count, kept.Count];
            for (int p = 0; p < kept.Count; p++)
            {
                eye[p, p] = 1;
                for (int q = 0; q < kept.Count; q++) hkk[p, q] = h[kept[p], kept[q]];
            }
            var inv = ObsTests.Solve(hkk, eye);
            var cost = kept.Select((j, p) => (j, c: w2[j] / inv[p, p])).OrderBy(t => t.c).ThenBy(t => t.j).First();
            Assert.Equal(cost.j, removal.Neuron);
            Assert.Equal(cost.c, removal.Score, 1e-8 * Math.Max(1, cost.c));
            // Partner: kept neuron of highest |correlation|, reported MI -1/2 ln(1 - r^2).
            var partner = kept.Where(k => k != cost.j).OrderByDescending(k => Math.Abs(Dot(g[cost.j], g[k]))).First();
            Assert.Equal(partner, removal.Partner);
            Assert.Equal(CopulaEstimator.FromCorrelation(Dot(g[cost.j], g[partner])), removal.Mi!.Value, 1e-9);
            kept.Remove(cost.j);
        }
    }

    [Fact]
    public void CopulaCorrelationGivesTheCopulaEstimatorsPairMi()
    {
        var (_, z) = Skewed(6, 2, 250, 7);
        var r = MiConditionalSelector.CopulaCorrelation(z, default);
        var est = new CopulaEstimator();
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 6; k++)
                if (i != k) Assert.Equal(est.Estimate(F(z.Column(i)), F(z.Column(k))), CopulaEstimator.FromCorrelation(r[i * 6 + k]), 1e-9);
    }

    [Theory]
    [InlineData(7, 5, 200, 1)]
    [InlineData(9, 3, 150, 2)]
    public void PearsonSpaceWithUpdateIsObs(int n, int d, int s, int seed)
    {
        var (layer, z) = ObsTests.Correlated(n, d, s, seed);
        var a = new MiConditionalSelector(update: true, space: "pearson").Select(new SelectionRequest(new LayerInputs(layer, z, null), n - 2, 0, null, default));
        var b = new ObsSelector().Select(new SelectionRequest(new LayerInputs(layer, z, null), n - 2, 0, null, default));
        Assert.Equal(b.Select(x => x.Neuron), a.Select(x => x.Neuron));
        for (int i = 0; i < a.Count; i++) Assert.Equal(b[i].Score, a[i].Score, 1e-9 * Math.Max(1, b[i].Score));
    }

    [Fact]
    public void SameInputsGiveTheSamePlanAndParametersRoundTrip()
    {
        var (layer, z) = Skewed(10, 4, 300, 9);
        var sel = PruningSelectors.Create("mi-conditional", new PlanParameters().Set("update", false).Set("damping", 0.02));
        var a = sel.Select(new SelectionRequest(new LayerInputs(layer, z, null), 6, 1, null, default));
        var b = PruningSelectors.Create("mi-conditional", sel.Parameters).Select(new SelectionRequest(new LayerInputs(layer, z, null), 6, 2, null, default));
        Assert.Equal(a.Select(r => (r.Neuron, r.Partner, r.Score)), b.Select(r => (r.Neuron, r.Partner, r.Score)));
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-conditional", new PlanParameters().Set("space", "kendall")));
        Assert.Throws<BadArgumentException>(() => PruningSelectors.Create("mi-conditional", new PlanParameters().Set("damping", 0.0)));
    }

    private static float[] F(double[] v) => v.Select(x => (float)x).ToArray();

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
