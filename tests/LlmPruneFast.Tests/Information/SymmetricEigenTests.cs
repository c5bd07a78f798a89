using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>The Householder + QL eigen-solver against closed forms and an independent cyclic Jacobi reference.</summary>
public sealed class SymmetricEigenTests
{
    [Fact]
    public void Two_by_two_matches_closed_form()
    {
        double a = 2, b = -1.5, c = 0.25;
        var eig = SymmetricEigen.Eigenvalues([a, b, b, c], 2);
        double mean = (a + c) / 2, rad = Math.Sqrt((a - c) * (a - c) / 4 + b * b);
        Assert.Equal(mean - rad, eig[0], 1e-14);
        Assert.Equal(mean + rad, eig[1], 1e-14);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(17)]
    public void Diagonal_matrix_gives_its_diagonal(int n)
    {
        var m = new double[n * n];
        var expected = new double[n];
        for (int i = 0; i < n; i++) m[i * n + i] = expected[i] = (i * 7 % 5) - 1.5 + i * 0.01;
        Array.Sort(expected);
        Assert.Equal(expected, SymmetricEigen.Eigenvalues(m, n));
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(5, 2)]
    [InlineData(33, 3)]
    [InlineData(100, 4)]
    public void Random_symmetric_matches_jacobi_reference(int n, int seed)
    {
        var rng = new Random(seed);
        var m = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) m[i * n + j] = m[j * n + i] = rng.NextDouble() * 2 - 1;
        var expected = JacobiEigenvalues((double[])m.Clone(), n);
        var actual = SymmetricEigen.Eigenvalues((double[])m.Clone(), n);
        for (int i = 0; i < n; i++) Assert.Equal(expected[i], actual[i], 1e-11);
    }

    [Fact]
    public void Gaussian_gram_matrix_with_tiny_eigenvalues_converges_and_keeps_trace()
    {
        // A Gaussian kernel Gram matrix spans ~17 orders of magnitude: the case that needs the absolute floor.
        int n = 300;
        var rng = new Random(5);
        var v = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var m = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) m[i * n + j] = Math.Exp(-(v[i] - v[j]) * (v[i] - v[j]) / (2 * 0.05 * 0.05)) / n;
        double fro2 = m.Sum(x => x * x);
        var eig = SymmetricEigen.Eigenvalues(m, n);
        Assert.Equal(1.0, eig.Sum(), 1e-12);
        Assert.Equal(fro2, eig.Sum(l => l * l), 1e-13);
        Assert.True(eig[0] > -1e-14, $"PSD matrix gave eigenvalue {eig[0]}");
    }

    /// <summary>Plain cyclic Jacobi rotations (independent of the solver under test), ascending eigenvalues.</summary>
    private static double[] JacobiEigenvalues(double[] a, int n)
    {
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int p = 0; p < n; p++) for (int q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
            if (off < 1e-30) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = a[p * n + q];
                    if (Math.Abs(apq) < 1e-300) continue;
                    double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k * n + p], akq = a[k * n + q];
                        a[k * n + p] = c * akp - s * akq;
                        a[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p * n + k], aqk = a[q * n + k];
                        a[p * n + k] = c * apk - s * aqk;
                        a[q * n + k] = s * apk + c * aqk;
                    }
                }
        }
        var d = new double[n];
        for (int i = 0; i < n; i++) d[i] = a[i * n + i];
        Array.Sort(d);
        return d;
    }
}
