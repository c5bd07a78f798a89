using System.Text.Json;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Copula;
using LlmPruneFast.Kernels.Ksg;
using LlmPruneFast.Kernels.Renyi;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>KSG, Renyi alpha = 2 and Gaussian-copula kernels against their plain references.</summary>
public abstract class ContinuousKernelTests
{
    protected abstract MiAcceleratorKind Kind { get; }
    private MiAccelerator Accelerator => TestAccelerators.Get(Kind);

    private static ReadOnlySpan<float> Column(float[] z, int rows, int j) => z.AsSpan(j * rows, rows);

    protected void CheckKsg(int rows, int columns, int k)
    {
        var z = TestMatrices.Make(rows, columns, seed: 11 * rows + k);
        var pairs = TestMatrices.Pairs(columns).Where(p => p.Item1 != p.Item2).ToArray();
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        // Host std for bit-identical scaling (ties in column 3 make neighbour counts sensitive to the last bit).
        var std = Enumerable.Range(0, columns).Select(j => KsgMiReference.Std(Column(z, rows, j))).ToArray();
        using var scaled = KsgMi.ScaledColumns.Create(Accelerator, device, std);
        var mi = new double[pairs.Length];
        KsgMi.PairList(Accelerator, scaled, k, pairs, mi);
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            double expected = KsgMiReference.Pair(Column(z, rows, i), Column(z, rows, j), k);
            Assert.True(Math.Abs(mi[p] - expected) <= 1e-12, $"S={rows} k={k} pair ({i},{j}): kernel {mi[p]:R} reference {expected:R}");
        }
    }

    protected void CheckRenyi(int rows, int columns)
    {
        var z = TestMatrices.Make(rows, columns, seed: 13 * rows);
        var pairs = TestMatrices.Pairs(columns).Where(p => p.Item1 != p.Item2).ToArray();
        var sigma = Enumerable.Range(0, columns).Select(j => 0.3 + 0.1 * j).ToArray();
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        using var marginals = RenyiAlpha2.Marginals.Compute(Accelerator, device, sigma);
        var terms = marginals.Terms.GetAsArray1D();
        for (int j = 0; j < columns; j++)
        {
            double expected = RenyiAlpha2Reference.MarginalTerm(Column(z, rows, j), sigma[j]);
            Assert.True(Math.Abs(terms[j] - expected) <= 1e-11 * expected, $"marginal term {j}: {terms[j]:R} vs {expected:R}");
        }
        var mi = new double[pairs.Length];
        RenyiAlpha2.PairList(Accelerator, device, marginals, pairs, mi);
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            double expected = RenyiAlpha2Reference.Pair(Column(z, rows, i), Column(z, rows, j), sigma[i], sigma[j]);
            Assert.True(Math.Abs(mi[p] - expected) <= 1e-10, $"pair ({i},{j}): kernel {mi[p]:R} reference {expected:R}");
        }
    }

    protected void CheckCopula(int rows, int columns, int tile)
    {
        var z = TestMatrices.Make(rows, columns, seed: 17 * rows + columns);
        var pairs = TestMatrices.Pairs(columns);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        using var scores = GaussianCopula.Scores.Create(Accelerator, device);
        var mi = new double[pairs.Length];
        GaussianCopula.PairList(Accelerator, scores, pairs, mi);
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            double expected = GaussianCopulaReference.Pair(Column(z, rows, i), Column(z, rows, j));
            // Scores are float32 on the device: r carries ~1e-7 relative error.
            Assert.True(Math.Abs(mi[p] - expected) <= 2e-6 * (1 + expected), $"pair ({i},{j}): kernel {mi[p]:R} reference {expected:R}");
        }
        var collector = new DenseTileCollector(columns);
        GaussianCopula.AllPairs(Accelerator, scores, collector.Sink, tile);
        for (int i = 0; i < columns; i++)
            for (int j = 0; j < columns; j++)
            {
                double expected = i == j ? 0 : GaussianCopulaReference.Pair(Column(z, rows, i), Column(z, rows, j));
                Assert.True(Math.Abs(collector.Matrix[i * columns + j] - expected) <= 1e-5 * (1 + expected), $"all pairs ({i},{j}): {collector.Matrix[i * columns + j]} vs {expected}");
            }
    }

    protected void CheckSharedReference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.MiReferenceDir, "mi_reference.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var z = TestMatrices.ReadReferencePair(Path.Combine(SharedData.MiReferenceDir, c.GetProperty("file").GetString()!), out int rows);
            using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, 2);
            double[] sigma = [c.GetProperty("renyi_sigma_x").GetDouble(), c.GetProperty("renyi_sigma_y").GetDouble()];
            using var marginals = RenyiAlpha2.Marginals.Compute(Accelerator, device, sigma);
            var mi = new double[1];
            RenyiAlpha2.PairList(Accelerator, device, marginals, [(0, 1)], mi);
            double expected = c.GetProperty("renyi_matrix_bits").GetProperty("alpha=2.0").GetDouble();
            Assert.True(Math.Abs(mi[0] - expected) <= 1e-6, $"{name} Renyi alpha=2: {mi[0]:R} vs {expected:R}");
            // KSG against scikit-learn (which adds ~1e-10 jitter and clips at 0; the float32 data have no ties).
            using var scaled = KsgMi.ScaledColumns.Create(Accelerator, device);
            foreach (var k in c.GetProperty("ksg_sklearn_nats_by_k").EnumerateObject())
            {
                KsgMi.PairList(Accelerator, scaled, int.Parse(k.Name), [(0, 1)], mi);
                Assert.True(Math.Abs(Math.Max(0, mi[0]) - k.Value.GetDouble()) <= 1e-6, $"{name} KSG k={k.Name}: {mi[0]:R} vs scikit-learn {k.Value.GetDouble():R}");
            }
            if (CopulaIndependent.TryGetValue(name, out double independent))
            {
                using var scores = GaussianCopula.Scores.Create(Accelerator, device);
                GaussianCopula.PairList(Accelerator, scores, [(0, 1)], mi);
                Assert.True(Math.Abs(mi[0] - independent) <= 1e-5 * (1 + independent), $"{name} copula: {mi[0]:R} vs independent {independent:R}");
                // Close to the analytic value: |r_hat - rho| within 3 standard errors (1 - rho^2)/sqrt(S) plus the
                // small extra spread of rank-based normal scores.
                double analytic = c.GetProperty("analytic_mi_nats").GetDouble();
                double rho = Math.Sqrt(1 - Math.Exp(-2 * analytic)), rHat = Math.Sqrt(1 - Math.Exp(-2 * mi[0]));
                Assert.True(Math.Abs(rHat - rho) <= 3 * (1 - rho * rho) / Math.Sqrt(rows) + 0.003, $"{name} copula r {rHat} vs analytic rho {rho}");
            }
        }
    }

    /// <summary>
    /// Copula MI of the shared Gaussian cases computed independently (Python's statistics.NormalDist.inv_cdf on
    /// stable ranks, statistics.correlation; float64), for the kernels to match.
    /// </summary>
    private static readonly Dictionary<string, double> CopulaIndependent = new()
    {
        ["gauss_rho0.0"] = 6.302731295269448e-05,
        ["gauss_rho0.3"] = 0.04175991175203491,
        ["gauss_rho0.6"] = 0.19038559033569075,
        ["gauss_rho0.9"] = 0.8466592480001496,
        ["gauss_rho0.99"] = 1.8510764403765467,
    };

    protected void CheckRejectsBadArguments()
    {
        var z = TestMatrices.Make(5, 2, 3);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, 5, 2);
        using var scaled = KsgMi.ScaledColumns.Create(Accelerator, device);
        Assert.Throws<ArgumentException>(() => KsgMi.PairList(Accelerator, scaled, 5, [(0, 1)], new double[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => KsgMi.PairList(Accelerator, scaled, 0, [(0, 1)], new double[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => RenyiAlpha2.Marginals.Compute(Accelerator, device, [1.0, 0.0]));
        Assert.Throws<ArgumentException>(() => RenyiAlpha2.Marginals.Compute(Accelerator, device, [1.0]));
    }
}

/// <summary>The library-free exp the Renyi kernels use (same code on the host and the device).</summary>
public sealed class DeviceExpTests
{
    [Fact]
    public void ExpNonPositive_MatchesMathExp()
    {
        for (double x = 0; x > -708; x -= 0.0137)
        {
            double expected = Math.Exp(x), actual = LlmPruneFast.Kernels.Columns.DeviceReduce.ExpNonPositive(x);
            Assert.True(Math.Abs(actual - expected) <= 4e-16 * expected, $"exp({x:R}) = {actual:R}, Math.Exp {expected:R}");
        }
        Assert.Equal(1.0, LlmPruneFast.Kernels.Columns.DeviceReduce.ExpNonPositive(0));
        Assert.Equal(0.0, LlmPruneFast.Kernels.Columns.DeviceReduce.ExpNonPositive(-800));
    }
}

/// <summary>The host-side normal quantile behind the copula scores.</summary>
public sealed class NormalQuantileTests
{
    [Theory]
    [InlineData(0.5, 0.0)]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.025, -1.959963984540054)]
    [InlineData(0.001, -3.090232306167813)]
    [InlineData(0.8413447460685429, 1.0)]
    [InlineData(1e-10, -6.361340902404056)]
    public void Inverse_KnownQuantiles(double p, double x) => Assert.Equal(x, NormalQuantile.Inverse(p), 1e-12);

    [Fact]
    public void Inverse_InvertsCdf()
    {
        for (double p = 0.0005; p < 1; p += 0.0173) Assert.Equal(p, NormalQuantile.Cdf(NormalQuantile.Inverse(p)), 1e-14);
        Assert.Throws<ArgumentOutOfRangeException>(() => NormalQuantile.Inverse(1.0));
    }
}

[Collection(KernelCollection.Name)]
public sealed class ContinuousKernelTestsOnCpuAccelerator : ContinuousKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cpu;
    [Fact] public void Ksg_MatchesReference() { CheckKsg(4, 2, 3); CheckKsg(37, 6, 3); CheckKsg(150, 5, 5); CheckKsg(64, 4, 1); }
    [Fact] public void Renyi2_MatchesReference() { CheckRenyi(3, 2); CheckRenyi(45, 6); CheckRenyi(130, 3); }
    [Fact] public void Copula_MatchesReference() { CheckCopula(2, 1, 4); CheckCopula(41, 7, 3); CheckCopula(200, 9, 256); }
    [SharedFact] public void KsgRenyi2Copula_MatchSharedReference() => CheckSharedReference();
    [Fact] public void RejectsBadArguments() => CheckRejectsBadArguments();
}

[Collection(KernelCollection.Name)]
public sealed class ContinuousKernelTestsOnCuda : ContinuousKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cuda;
    [CudaFact] public void Ksg_MatchesReference() { CheckKsg(4, 2, 3); CheckKsg(37, 6, 3); CheckKsg(150, 5, 5); CheckKsg(64, 4, 1); }
    [CudaFact] public void Renyi2_MatchesReference() { CheckRenyi(3, 2); CheckRenyi(45, 6); CheckRenyi(130, 3); }
    [CudaFact] public void Copula_MatchesReference() { CheckCopula(2, 1, 4); CheckCopula(41, 7, 3); CheckCopula(200, 9, 256); }
    [CudaFact] public void KsgRenyi2Copula_MatchSharedReference() { if (SharedData.Root != null) CheckSharedReference(); }
    [CudaFact] public void RejectsBadArguments() => CheckRejectsBadArguments();
}
