using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>
/// The x-sorted strip k-NN search gives bit-identical KSG values to the rank-grid search it replaced and to a brute-force
/// O(S^2) reference of the same definition (scikit-learn's: max-norm, r = the double below eps, n counts |d| &lt;= r),
/// on random data with and without ties, duplicates, constant stretches and outliers.
/// </summary>
public sealed class KsgSearchTests
{
    /// <summary>KSG by definition, O(S^2), from the same scaled doubles and the same psi sums as the estimator.</summary>
    private static double BruteForce(float[] xf, float[] yf, int k)
    {
        int s = xf.Length;
        double[] Scale(float[] v)
        {
            double std = ColumnMath.StdDdof0(v);
            if (std == 0) std = 1;
            return v.Select(a => a / std).ToArray();
        }
        var x = Scale(xf);
        var y = Scale(yf);
        var psi = ColumnMath.DigammaTable(s + 1);
        var cx = new int[s];
        var cy = new int[s];
        var d = new double[s - 1];
        for (int i = 0; i < s; i++)
        {
            int m = 0;
            for (int j = 0; j < s; j++) if (j != i) d[m++] = Math.Max(Math.Abs(x[i] - x[j]), Math.Abs(y[i] - y[j]));
            Array.Sort(d);
            double eps = d[k - 1], r = eps > 0 ? Math.BitDecrement(eps) : 0.0;
            int nx = 0, ny = 0;
            for (int j = 0; j < s; j++)
            {
                if (j == i) continue;
                if (Math.Abs(x[i] - x[j]) <= r) nx++;
                if (Math.Abs(y[i] - y[j]) <= r) ny++;
            }
            cx[nx]++;
            cy[ny]++;
        }
        double mx = 0, my = 0;
        for (int n = 0; n < s; n++)
        {
            if (cx[n] != 0) mx += cx[n] * psi[n + 1];
            if (cy[n] != 0) my += cy[n] * psi[n + 1];
        }
        return psi[s] + psi[k] - mx / s - my / s;
    }

    public static TheoryData<string, int, int> Cases() => new()
    {
        { "gaussian", 50, 3 }, { "gaussian", 700, 3 }, { "gaussian", 513, 1 }, { "gaussian", 300, 7 },
        { "ties", 400, 3 }, { "ties", 257, 5 }, { "duplicates", 333, 3 }, { "outliers", 600, 3 }, { "relu", 800, 3 },
        { "tiny", 4, 3 }, { "tiny", 9, 2 },
    };

    private static (float[] X, float[] Y) Data(string kind, int s, int seed)
    {
        var rng = new Random(seed);
        double N() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var x = new float[s];
        var y = new float[s];
        for (int i = 0; i < s; i++)
        {
            double a = N(), b = 0.6 * a + N();
            switch (kind)
            {
                case "ties": a = Math.Round(a * 2) / 2; b = Math.Round(b * 3) / 3; break; // few distinct values
                case "duplicates": if (i % 3 == 1) { x[i] = x[i - 1]; y[i] = y[i - 1]; continue; } break; // repeated points
                case "outliers": if (i % 50 == 0) { a *= 1000; b -= 5000; } break;
                case "relu": a = Math.Max(0, a); b = Math.Max(0, b) * a; break; // many exact zeros
            }
            x[i] = (float)a;
            y[i] = (float)b;
        }
        return (x, y);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Strip_search_equals_grid_search_and_brute_force(string kind, int s, int k)
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var (x, y) = Data(kind, s, seed);
            double strip = new KsgEstimator(k, clipNegative: false).Estimate(x, y);
            double grid = new KsgEstimator(k, clipNegative: false) { UseGrid = true }.Estimate(x, y);
            double brute = BruteForce(x, y, k);
            Assert.Equal(grid, strip); // bit-identical: same distances, same counts, same sums
            Assert.True(Math.Abs(brute - strip) <= 1e-12, $"{kind} S={s} k={k} seed={seed}: strip {strip:R}, brute force {brute:R}");
        }
    }

    [Fact]
    public void Strip_search_equals_grid_search_on_distinct_pairs_of_a_matrix()
    {
        var rng = new Random(5);
        var z = new ActivationMatrix(1500, 12);
        for (int j = 0; j < 12; j++)
        {
            var c = z.ColumnMutable(j);
            for (int i = 0; i < c.Length; i++) c[i] = (float)(j % 3 == 0 ? Math.Round(rng.NextDouble() * 20) : Math.Exp(rng.NextDouble() * 4) * (i % (j + 2)));
        }
        var pairs = Enumerable.Range(0, 12).SelectMany(i => Enumerable.Range(0, 12).Where(j => j != i).Select(j => (i, j))).ToArray();
        var strip = new double[pairs.Length];
        var grid = new double[pairs.Length];
        new KsgEstimator(3).EstimatePairs(z, pairs, strip);
        new KsgEstimator(3) { UseGrid = true }.EstimatePairs(z, pairs, grid);
        Assert.Equal(grid, strip);
    }
}
