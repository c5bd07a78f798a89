using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>
/// The KSG estimator (rank-grid k-NN, vector marginal counts) equals a brute-force O(S^2) reference of the same
/// definition (scikit-learn's: max-norm, r = the double below eps, n counts |d| &lt;= r) on random data with and
/// without ties, duplicate points, exact zeros and outliers; and its scale is numpy's std to the bit.
/// </summary>
public sealed class KsgSearchTests
{
    /// <summary>KSG by definition, O(S^2), from the same scaled doubles and the same psi sums as the estimator.</summary>
    private static double BruteForce(float[] xf, float[] yf, int k)
    {
        int s = xf.Length;
        double[] Scale(float[] v)
        {
            double std = ColumnMath.NumpyStd(v);
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
        { "tiny", 4, 3 }, { "tiny", 9, 2 }, { "gaussian", 1500, 4 }, { "ties", 1200, 2 }, { "relu", 2000, 3 },
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
    public void Ksg_equals_brute_force(string kind, int s, int k)
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var (x, y) = Data(kind, s, seed);
            double ours = new KsgEstimator(k, clipNegative: false).Estimate(x, y);
            double brute = BruteForce(x, y, k);
            Assert.True(Math.Abs(brute - ours) <= 1e-12, $"{kind} S={s} k={k} seed={seed}: ours {ours:R}, brute force {brute:R}");
        }
    }

    [Fact]
    public void Numpy_std_matches_numpys_pairwise_summation()
    {
        // values where sequential and pairwise sums differ in the last bits; expected values from numpy 1.24.2:
        // np.std(np.array([0.1 * (i % 7) + 1e-3 * i for i in range(1000)], dtype=np.float32).astype(np.float64)).hex()
        var v = Enumerable.Range(0, 1000).Select(i => (float)(0.1 * (i % 7) + 1e-3 * i)).ToArray();
        Assert.Equal(NumpyStdHex, BitConverter.DoubleToInt64Bits(ColumnMath.NumpyStd(v)).ToString("x16"));
        // numpy's small-array branches: n < 8 and 8 <= n <= 128
        Assert.Equal(Math.Sqrt(2.0 / 3.0), ColumnMath.NumpyStd([1f, 2f, 3f]), 15);
        Assert.Equal(15.0, ColumnMath.NumpyPairwiseSum([1, 2, 3, 4, 5]));
        Assert.Equal(Enumerable.Range(0, 100).Sum(), ColumnMath.NumpyPairwiseSum(Enumerable.Range(0, 100).Select(i => (double)i).ToArray()));
    }

    private const string NumpyStdHex = "3fd6845dde940f5f";
}
