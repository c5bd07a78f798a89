using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>Structured OBS against a brute-force evaluation of every removal on tiny layers.</summary>
public sealed class ObsTests
{
    /// <summary>Correlated activations: z = A x + 0.3 e (x in R^3, e noise) plus a mean; random W_down.</summary>
    internal static (FfnLayer Layer, LayerActivations Z) Correlated(int n, int d, int s, int seed)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var a = new double[n, 3];
        for (int j = 0; j < n; j++) for (int k = 0; k < 3; k++) a[j, k] = Normal();
        var z = new float[s * n];
        for (int r = 0; r < s; r++)
        {
            double x0 = Normal(), x1 = Normal(), x2 = Normal();
            for (int j = 0; j < n; j++) z[r * n + j] = (float)(0.5 * j + a[j, 0] * x0 + a[j, 1] * x1 + a[j, 2] * x2 + 0.3 * Normal());
        }
        var down = Enumerable.Range(0, d * n).Select(_ => (float)Normal()).ToArray();
        var gate = Enumerable.Range(0, d * n).Select(_ => (float)Normal()).ToArray();
        var up = Enumerable.Range(0, d * n).Select(_ => (float)Normal()).ToArray();
        return (new FfnLayer(0, n, d, gate, up, down), new LayerActivations(0, s, n, z));
    }

    /// <summary>Plain covariance (1/S, centred) computed directly.</summary>
    internal static double[,] Covariance(LayerActivations z)
    {
        int s = z.Rows, n = z.Columns;
        var cols = Enumerable.Range(0, n).Select(z.Column).ToArray();
        var mean = cols.Select(c => c.Average()).ToArray();
        var cov = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double acc = 0;
                for (int r = 0; r < s; r++) acc += (cols[i][r] - mean[i]) * (cols[k][r] - mean[k]);
                cov[i, k] = acc / s;
            }
        return cov;
    }

    /// <summary>Solves A X = B by Gauss-Jordan with partial pivoting (A m x m, B m x q).</summary>
    internal static double[,] Solve(double[,] a, double[,] b)
    {
        int m = a.GetLength(0), q = b.GetLength(1);
        var aa = (double[,])a.Clone();
        var bb = (double[,])b.Clone();
        for (int col = 0; col < m; col++)
        {
            int piv = col;
            for (int r = col + 1; r < m; r++) if (Math.Abs(aa[r, col]) > Math.Abs(aa[piv, col])) piv = r;
            for (int c = 0; c < m; c++) (aa[col, c], aa[piv, c]) = (aa[piv, c], aa[col, c]);
            for (int c = 0; c < q; c++) (bb[col, c], bb[piv, c]) = (bb[piv, c], bb[col, c]);
            for (int r = 0; r < m; r++)
            {
                if (r == col) continue;
                double f = aa[r, col] / aa[col, col];
                for (int c = 0; c < m; c++) aa[r, c] -= f * aa[col, c];
                for (int c = 0; c < q; c++) bb[r, c] -= f * bb[col, c];
            }
        }
        for (int r = 0; r < m; r++) for (int c = 0; c < q; c++) bb[r, c] /= aa[r, r];
        return bb;
    }

    /// <summary>
    /// Brute force: minimal tr((W - W') H (W - W')^T) over W' supported on kept columns, H = C + delta I:
    /// E(K) = tr(W_R (H_RR - H_RK H_KK^-1 H_KR) W_R^T).
    /// </summary>
    internal static double Error(double[,] h, double[,] w, int[] kept)
    {
        int n = h.GetLength(0), d = w.GetLength(0);
        var removed = Enumerable.Range(0, n).Except(kept).ToArray();
        if (removed.Length == 0) return 0;
        var hkk = new double[kept.Length, kept.Length];
        var hkr = new double[kept.Length, removed.Length];
        for (int i = 0; i < kept.Length; i++)
        {
            for (int k = 0; k < kept.Length; k++) hkk[i, k] = h[kept[i], kept[k]];
            for (int r = 0; r < removed.Length; r++) hkr[i, r] = h[kept[i], removed[r]];
        }
        var x = kept.Length > 0 ? Solve(hkk, hkr) : new double[0, removed.Length];
        double e = 0;
        for (int o = 0; o < d; o++)
            for (int r1 = 0; r1 < removed.Length; r1++)
                for (int r2 = 0; r2 < removed.Length; r2++)
                {
                    double schur = h[removed[r1], removed[r2]];
                    for (int i = 0; i < kept.Length; i++) schur -= hkr[i, r1] * x[i, r2];
                    e += w[o, removed[r1]] * schur * w[o, removed[r2]];
                }
        return e;
    }

    [Theory]
    [InlineData(7, 5, 200, 1, 0.01)]
    [InlineData(9, 3, 150, 2, 0.05)]
    [InlineData(6, 8, 300, 3, 0.001)]
    public void GreedyObsMatchesBruteForceAtEveryStep(int n, int d, int s, int seed, double damping)
    {
        var (layer, z) = Correlated(n, d, s, seed);
        var cov = Covariance(z);
        double trace = Enumerable.Range(0, n).Sum(i => cov[i, i]);
        var h = (double[,])cov.Clone();
        for (int i = 0; i < n; i++) h[i, i] += damping * trace / n;
        var w = new double[d, n];
        for (int o = 0; o < d; o++) for (int j = 0; j < n; j++) w[o, j] = layer.Down.Span[o * n + j];

        var selector = new ObsSelector(damping);
        var order = selector.Select(new SelectionRequest(new LayerInputs(layer, z, null), n - 1, 0, null, default));
        var kept = Enumerable.Range(0, n).ToList();
        double current = 0;
        foreach (var removal in order)
        {
            var costs = kept.ToDictionary(j => j, j => Error(h, w, kept.Where(k => k != j).ToArray()) - current);
            int bruteBest = costs.OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
            Assert.Equal(bruteBest, removal.Neuron);
            Assert.Equal(costs[bruteBest], removal.Score, 1e-8 * Math.Max(1, Math.Abs(costs[bruteBest])));
            kept.Remove(removal.Neuron);
            current += costs[bruteBest];
        }
    }

    [Fact]
    public void ObsDefaultRefitIsTheOptimalUpdateAndItsErrorIsTheObsObjective()
    {
        const int n = 8, d = 4, s = 400;
        const double damping = 0.02;
        var (layer, z) = Correlated(n, d, s, 5);
        var selector = new ObsSelector(damping);
        var source = new InMemoryLayerSource([layer], [z]);
        var options = new PruningOptions { Selector = selector, Budget = new PruningBudget(BudgetKind.Uniform, 3.0 / 8) };
        Assert.Equal(CompensationKind.Refit, Pruner.ResolveCompensation(options).Kind);
        Assert.Equal(damping, Pruner.ResolveCompensation(options).Ridge);
        var (plan, sliced) = Pruner.Prune(ModelFingerprint.Compute("t", [layer]), source, options);
        var kept = plan.Layers[0].Kept.ToArray();

        var cov = Covariance(z);
        double trace = Enumerable.Range(0, n).Sum(i => cov[i, i]);
        double delta = damping * trace / n;
        var h = (double[,])cov.Clone();
        for (int i = 0; i < n; i++) h[i, i] += delta;
        var w = new double[d, n];
        for (int o = 0; o < d; o++) for (int j = 0; j < n; j++) w[o, j] = layer.Down.Span[o * n + j];
        // W'_K = W H[:, K] H_KK^-1, i.e. H_KK W'_K^T = H_K: W^T.
        var hkk = new double[kept.Length, kept.Length];
        var rhs = new double[kept.Length, d];
        for (int i = 0; i < kept.Length; i++)
        {
            for (int k = 0; k < kept.Length; k++) hkk[i, k] = h[kept[i], kept[k]];
            for (int o = 0; o < d; o++) { double acc = 0; for (int j = 0; j < n; j++) acc += h[kept[i], j] * w[o, j]; rhs[i, o] = acc; }
        }
        var wkT = Solve(hkk, rhs);
        for (int o = 0; o < d; o++)
            for (int i = 0; i < kept.Length; i++)
                Assert.Equal(wkT[i, o], sliced[0].Down[o * kept.Length + i], 1e-9);

        // Mean squared output error on the calibration rows = E_H(K) - delta ||dW||_F^2 (the damping term).
        var syn = new SyntheticFfn { Layer = layer, Activations = z };
        var dense = syn.DenseOutput();
        var pruned = syn.SlicedOutput(sliced[0]);
        double mse = dense.Zip(pruned, (a, b) => (a - b) * (a - b)).Sum() / s;
        double dw = 0;
        for (int o = 0; o < d; o++)
            for (int j = 0; j < n; j++)
            {
                int pos = Array.IndexOf(kept, j);
                double nw = pos >= 0 ? wkT[pos, o] : 0;
                dw += (w[o, j] - nw) * (w[o, j] - nw);
            }
        Assert.Equal(Error(h, w, kept) - delta * dw, mse, 1e-8 * Math.Max(1, mse));
    }
}
