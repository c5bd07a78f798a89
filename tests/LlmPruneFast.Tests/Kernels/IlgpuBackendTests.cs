using LlmPruneFast.Information;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>
/// The ILGPU backend behind <c>--device cuda</c> gives the CPU backend's values: every supported estimator, pair
/// lists and all pairs, on a matrix with ties and a constant column. Runs on the ILGPU CPU accelerator in CI.
/// </summary>
public abstract class IlgpuBackendTests
{
    protected abstract IlgpuMiBackend Backend { get; }

    public static readonly (string Estimator, MiEstimatorOptions Options, double Tolerance)[] Cases =
    [
        ("plugin", new MiEstimatorOptions { Bins = 8 }, 1e-12),
        ("plugin", new MiEstimatorOptions { Bins = 13, MillerMadow = true }, 1e-12),
        ("ksg", new MiEstimatorOptions { K = 3 }, 1e-9),
        ("ksg", new MiEstimatorOptions { K = 5, ClipNegative = false }, 1e-9),
        ("renyi", new MiEstimatorOptions { Alpha = 2, Bandwidth = Bandwidth.Silverman }, 1e-9),
        ("renyi", new MiEstimatorOptions { Alpha = 2, Bandwidth = Bandwidth.Fixed(0.4) }, 1e-9),
        ("copula", new MiEstimatorOptions(), 1e-5),
    ];

    protected void CheckSameAsCpu(int rows, int columns)
    {
        // Ties only in the plug-in and copula cases (rank ties are exact); KSG distances tie only by float rounding.
        var data = TestMatrices.Make(rows, columns, seed: 23);
        var z = ActivationMatrix.FromColumnMajor(rows, columns, data);
        var pairs = TestMatrices.Pairs(columns).Where(p => p.Item1 != p.Item2).ToArray();
        foreach (var (name, options, tolerance) in Cases)
        {
            var cpu = MiEstimators.Create(name, options);
            var device = Backend.Create(name, options);
            Assert.Equal(cpu.Units, device.Units);
            var expected = new double[pairs.Length];
            var actual = new double[pairs.Length];
            cpu.EstimatePairs(z, pairs, expected);
            device.EstimatePairs(z, pairs, actual);
            for (int p = 0; p < pairs.Length; p++)
                Assert.True(Math.Abs(actual[p] - expected[p]) <= tolerance * (1 + Math.Abs(expected[p])),
                    $"{name} {options} pair {pairs[p]}: device {actual[p]:R} cpu {expected[p]:R}");
            var cpuAll = new DenseMiSink(columns);
            var deviceAll = new DenseMiSink(columns);
            cpu.EstimateAllPairs(z, cpuAll);
            device.EstimateAllPairs(z, deviceAll);
            for (int e = 0; e < cpuAll.Matrix.Length; e++)
                Assert.True(Math.Abs(deviceAll.Matrix[e] - cpuAll.Matrix[e]) <= Math.Max(tolerance, 1e-6) * (1 + Math.Abs(cpuAll.Matrix[e])),
                    $"{name} all pairs element {e}: device {deviceAll.Matrix[e]} cpu {cpuAll.Matrix[e]}");
            Assert.Equal(expected[0], device.Estimate(z.Column(pairs[0].Item1), z.Column(pairs[0].Item2)), tolerance * (1 + Math.Abs(expected[0])));
        }
    }

    protected void CheckRejections()
    {
        Assert.False(Backend.Supports("renyi", new MiEstimatorOptions { Alpha = 1.01 }));
        Assert.False(Backend.Supports("ksg", new MiEstimatorOptions { Jitter = KsgJitter.SklearnRandomState0 }));
        Assert.False(Backend.Supports("plugin", new MiEstimatorOptions { Bins = 128 }));
        Assert.Throws<BadArgumentException>(() => Backend.Create("renyi", new MiEstimatorOptions { Alpha = 1.5 }));
        var z = ActivationMatrix.FromColumnMajor(10, 2, TestMatrices.Make(10, 2, 1));
        var plugin = Backend.Create("plugin", new MiEstimatorOptions { Bins = 16 });
        Assert.Throws<BadDataException>(() => plugin.EstimatePairs(z, [(0, 1)], new double[1]));
        var bad = TestMatrices.Make(20, 2, 1);
        bad[25] = float.NaN;
        Assert.Throws<BadDataException>(() => Backend.Create("copula", new MiEstimatorOptions()).EstimatePairs(ActivationMatrix.FromColumnMajor(20, 2, bad), [(0, 1)], new double[1]));
        Assert.Throws<BadArgumentException>(() => plugin.EstimatePairs(ActivationMatrix.FromColumnMajor(20, 2, TestMatrices.Make(20, 2, 2)), [(0, 2)], new double[1]));
    }
}

[Collection(KernelCollection.Name)]
public sealed class IlgpuBackendTestsOnCpuAccelerator : IlgpuBackendTests
{
    private static readonly IlgpuMiBackend Shared = new(MiAcceleratorKind.Cpu);
    protected override IlgpuMiBackend Backend => Shared;
    [Fact] public void SameValuesAsCpuBackend() { CheckSameAsCpu(120, 7); CheckSameAsCpu(33, 3); }
    [Fact] public void RejectsUnsupportedAndBadInput() => CheckRejections();
}

[Collection(KernelCollection.Name)]
public sealed class IlgpuBackendTestsOnCuda : IlgpuBackendTests
{
    protected override IlgpuMiBackend Backend => IlgpuMiBackend.Cuda;
    [CudaFact] public void SameValuesAsCpuBackend() { CheckSameAsCpu(120, 7); CheckSameAsCpu(33, 3); }
    [CudaFact] public void RejectsUnsupportedAndBadInput() => CheckRejections();
}
