using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>
/// DenseMath on OpenBLAS (LAPACK dpotrf/dpotri/dpotrs, BLAS dsyrk) against its managed loops and against plain
/// definitions, on random symmetric positive-definite matrices. The row-major/column-major mapping is the risk these
/// tests pin: a wrong triangle or a transposed solve shows up as errors of order 1, not 1e-10.
/// </summary>
public sealed class DenseMathTests
{
    [Fact]
    public void OpenBlasIsLoaded()
    {
        // build.sh installs libopenblas0-pthread; LLMPRUNE_BLAS=managed is the only accepted reason to run without it.
        if (Environment.GetEnvironmentVariable("LLMPRUNE_BLAS") == "managed") Assert.False(NativeBlas.Available);
        else Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
    }

    /// <summary>A = B B^T / k + 0.1 I with B [n x k] normal: SPD, condition number around 1e2-1e3.</summary>
    internal static double[] RandomSpd(int n, int seed)
    {
        var rng = new Random(seed);
        int k = n + 5;
        var b = new double[n * k];
        for (int i = 0; i < b.Length; i++) b[i] = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < k; t++) s += b[i * k + t] * b[j * k + t];
                a[i * n + j] = s / k + (i == j ? 0.1 : 0);
            }
        return a;
    }

    private static double MaxAbs(ReadOnlySpan<double> x) { double m = 0; foreach (var v in x) m = Math.Max(m, Math.Abs(v)); return m; }

    private static double MaxDiff(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Assert.Equal(x.Length, y.Length);
        double m = 0;
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(x[i] - y[i]));
        return m;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(130, 3)]
    [InlineData(300, 4)]
    public void InverseMatchesManagedAndInverts(int n, int seed)
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        var a = RandomSpd(n, seed);
        var native = DenseMath.InverseSpd(a, n, "test", native: true);
        var managed = DenseMath.InverseSpd(a, n, "test", native: false);
        Assert.True(MaxDiff(native, managed) <= 1e-9 * MaxAbs(managed), $"native vs managed differ by {MaxDiff(native, managed):G3}");
        // Exactly symmetric, and A A^-1 = I.
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                Assert.Equal(native[i * n + j], native[j * n + i]);
                double s = 0;
                for (int t = 0; t < n; t++) s += a[i * n + t] * native[t * n + j];
                Assert.True(Math.Abs(s - (i == j ? 1 : 0)) < 1e-9, $"(A A^-1)[{i},{j}] = {s}");
            }
    }

    [Theory]
    [InlineData(5, 3, 5)]
    [InlineData(120, 17, 6)]
    public void CholeskyAndSolveMatchManaged(int n, int m, int seed)
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        var a = RandomSpd(n, seed);
        var ln = a.ToArray();
        var lm = a.ToArray();
        DenseMath.CholeskyInPlace(ln, n, "test", native: true);
        DenseMath.CholeskyInPlace(lm, n, "test", native: false);
        Assert.True(MaxDiff(ln, lm) <= 1e-12 * MaxAbs(lm));
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) Assert.Equal(0.0, ln[i * n + j]);   // strict upper triangle cleared
        // L L^T = A.
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double s = 0;
                for (int t = 0; t <= j; t++) s += ln[i * n + t] * ln[j * n + t];
                Assert.True(Math.Abs(s - a[i * n + j]) < 1e-12 * MaxAbs(a));
            }
        var rng = new Random(seed + 100);
        var b = Enumerable.Range(0, n * m).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var xn = b.ToArray();
        var xm = b.ToArray();
        DenseMath.CholeskySolveInPlace(ln, n, xn, m, native: true);
        DenseMath.CholeskySolveInPlace(lm, n, xm, m, native: false);
        Assert.True(MaxDiff(xn, xm) <= 1e-9 * MaxAbs(xm));
        for (int i = 0; i < n; i++)   // A X = B
            for (int c = 0; c < m; c++)
            {
                double s = 0;
                for (int t = 0; t < n; t++) s += a[i * n + t] * xn[t * m + c];
                Assert.True(Math.Abs(s - b[i * m + c]) < 1e-9, $"(A X - B)[{i},{c}] = {s - b[i * m + c]}");
            }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NotPositiveDefiniteIsBadDataOnBothPaths(bool native)
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        var a = RandomSpd(6, 7);
        a[3 * 6 + 3] = -1;
        var e = Assert.Throws<BadDataException>(() => DenseMath.InverseSpd(a, 6, "layer 9", native));
        Assert.Contains("layer 9: matrix is not positive definite", e.Message);
        var nan = RandomSpd(4, 8);
        nan[2 * 4 + 2] = double.NaN;
        Assert.Throws<BadDataException>(() => DenseMath.InverseSpd(nan, 4, "nan", native));
    }

    /// <summary>The in-place inverse (obs, mi-conditional: about 1 GB less per 7B layer) gives the copying one's bits, in the input's own array on OpenBLAS.</summary>
    [Fact]
    public void InPlaceInverseEqualsTheCopyingOne()
    {
        int n = 40;
        var a = RandomSpd(n, 3);
        var copy = DenseMath.InverseSpd(a, n, "test");
        var work = a.ToArray();
        var inPlace = DenseMath.InvertSpdInPlace(work, n, "test");
        Assert.Equal(copy, inPlace);
        if (NativeBlas.Use()) Assert.Same(work, inPlace);
    }

    [Fact]
    public void GramMatchesDefinitionAndAccumulatesBlocks()
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        int rows = 37, cols = 23;
        var rng = new Random(9);
        var a = Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var g = DenseMath.GramAtA(a, rows, cols);
        var blocks = new double[cols * cols];
        DenseMath.AddGramAtA(a.AsSpan(0, 20 * cols), 20, cols, blocks);
        DenseMath.AddGramAtA(a.AsSpan(20 * cols), rows - 20, cols, blocks);
        DenseMath.MirrorLower(blocks, cols);
        for (int i = 0; i < cols; i++)
            for (int k = 0; k < cols; k++)
            {
                double s = 0;
                for (int r = 0; r < rows; r++) s += a[r * cols + i] * a[r * cols + k];
                Assert.True(Math.Abs(g[i * cols + k] - s) < 1e-12, $"G[{i},{k}]");
                Assert.True(Math.Abs(blocks[i * cols + k] - s) < 1e-12, $"blocks G[{i},{k}]");
            }
    }

    [Fact]
    public void MirrorLowerCopiesEveryLowerEntry()
    {
        int n = 600;   // several 64-wide tiles, parallel path
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i * n + j] = i * 1000.0 + j;
        DenseMath.MirrorLower(a, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Assert.Equal(Math.Max(i, j) * 1000.0 + Math.Min(i, j), a[i * n + j]);
    }

    [Fact]
    public void BlasCovarianceAndDownGramMatchDefinitions()
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        var (layer, z) = ObsTests.Correlated(n: 40, d: 9, s: 300, seed: 11);
        var expected = ObsTests.Covariance(z);
        var c = new LayerStatistics(z).Covariance();
        for (int i = 0; i < 40; i++)
            for (int k = 0; k < 40; k++)
                Assert.True(Math.Abs(c[i * 40 + k] - expected[i, k]) <= 1e-9 * (1 + Math.Abs(expected[i, k])), $"C[{i},{k}]");
        var g = ObsSelector.DownGram(layer, default);
        var down = layer.Down.Span;
        for (int i = 0; i < 40; i++)
            for (int k = 0; k < 40; k++)
            {
                double s = 0;
                for (int r = 0; r < 9; r++) s += (double)down[r * 40 + i] * down[r * 40 + k];
                Assert.True(Math.Abs(g[i * 40 + k] - s) < 1e-10, $"G[{i},{k}]");
            }
    }
}
