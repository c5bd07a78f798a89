using LlmPruneFast.Capture;
using LlmPruneFast.Information;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>
/// The prune path's Gram matrices on an ILGPU accelerator (<see cref="IlgpuGramDevice"/>, float64 GEMM) equal the
/// CPU's (OpenBLAS or managed) to 1e-12 relative, and a stories260K plan made with them (and, for an MI method, with
/// the backend's plug-in kernels) equals the CPU plan.
/// </summary>
public abstract class GramDeviceTests
{
    protected abstract IlgpuMiBackend Backend { get; }

    /// <summary>Blocks of 37 rows at N = 23 (and of 37 at the layer widths below): several uploads and a ragged last one.</summary>
    private IlgpuGramDevice Device(int n) => new(Backend, blockElements: 37L * n);

    private static double RelativeDifference(double[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs), worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        return worst / scale;
    }

    private static void AssertSymmetric(double[] g, int n)
    {
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i; k++) Assert.Equal(g[(long)i * n + k], g[(long)k * n + i]);
    }

    protected void CheckCovarianceOnRandomMatrix()
    {
        const int s = 301, n = 23;
        var random = new Random(3);
        // A large common offset and unequal scales: the centring must happen before the products.
        var z = Enumerable.Range(0, s * n).Select(i => (float)(50 + (i % n + 1) * TestMatrices.Gaussian(random))).ToArray();
        var activations = new LayerActivations(0, s, n, z);
        var device = Device(n);
        var expected = new LayerStatistics(activations).Covariance();
        var actual = new LayerStatistics(activations, device).Covariance();
        Assert.Equal(1, device.Calls);
        Assert.True(RelativeDifference(actual, expected) <= 1e-12, $"relative difference {RelativeDifference(actual, expected):E2}");
        AssertSymmetric(actual, n);
    }

    protected void CheckStories260K(PlanParameters? parameters, string method, string? estimator = null)
    {
        var model = new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K");
        var calibration = model.Capture(Stories260K.Calibration(40_000), "calib", new CalibrationOptions { Samples = 1024, Seed = 1, Threads = 1 }, null, default);
        var settings = new PruneSettings { Method = method, MethodParameters = parameters, Ratio = 0.3, Seed = 1, Estimator = estimator ?? "plugin" };
        var options = PrunablePipeline.Options(settings, model.Widths) with { Calibration = calibration.Info };
        Assert.Null(options.Gram);   // --device cpu (the default) keeps the Gram matrices on the CPU
        int n = model.Widths[0];
        var device = Device(n);

        // The Gram matrices themselves, on layer 0's real activations and weights.
        var layer = model.Layers(calibration.Layers).Layer(0);
        var z = calibration.Layers[0];
        double cov = RelativeDifference(new LayerStatistics(z, device).Covariance(), new LayerStatistics(z).Covariance());
        Assert.True(cov <= 1e-12, $"covariance: relative difference {cov:E2}");
        double copula = RelativeDifference(MiConditionalSelector.CopulaCorrelation(z, default, device), MiConditionalSelector.CopulaCorrelation(z, default));
        Assert.True(copula <= 1e-12, $"copula correlation: relative difference {copula:E2}");
        double down = RelativeDifference(ObsSelector.DownGram(layer, default, device), ObsSelector.DownGram(layer, default));
        Assert.True(down <= 1e-12, $"W_down Gram: relative difference {down:E2}");

        // The plan: same kept and removed neurons, same partners, in the same order.
        int before = device.Calls;
        var cpu = Pruner.Plan(model.Fingerprint(), model.Layers(calibration.Layers), options);
        // With an estimator, MI comes from the backend's kernels too (as --device cuda does).
        var onDevice = estimator == null ? options with { Gram = device }
            : options with { Gram = device, Estimator = new EstimatorPairInformation(Backend.Create(estimator, settings.EstimatorOptions)) };
        var gpu = Pruner.Plan(model.Fingerprint(), model.Layers(calibration.Layers), onDevice);
        if (estimator == null) Assert.True(device.Calls > before, "the plan never used the Gram device");
        for (int l = 0; l < cpu.Layers.Count; l++)
        {
            Assert.Equal(cpu.Layers[l].Kept, gpu.Layers[l].Kept);
            Assert.Equal(cpu.Layers[l].Removed.Select(r => (r.Neuron, r.Partner)), gpu.Layers[l].Removed.Select(r => (r.Neuron, r.Partner)));
        }
    }
}

[Collection(KernelCollection.Name)]
public sealed class GramDeviceTestsOnCpuAccelerator : GramDeviceTests
{
    // Its GEMM is the direct kernel (no barriers: GemmNT64's choice on the CPU accelerator), in groups of 4.
    private static readonly IlgpuMiBackend Shared = new(MiAcceleratorKind.Cpu, cpuThreadsPerGroup: 4);
    protected override IlgpuMiBackend Backend => Shared;
    [Fact] public void Covariance_RandomMatrix_EqualsCpu() => CheckCovarianceOnRandomMatrix();
    [SharedFact] public void MiConditional_Stories260K_SamePlan() => CheckStories260K(null, "mi-conditional");
    [SharedFact] public void MiConditionalCopulaUpdate_Stories260K_SamePlan() =>
        CheckStories260K(new PlanParameters().Set("space", "copula").Set("update", true), "mi-conditional");
    [SharedFact] public void Obs_Stories260K_SamePlan() => CheckStories260K(null, "obs");
    // MI from the plug-in kernels too (about a minute on the CPU accelerator; mi-weighted's 512 permutation nulls
    // would add half as much again, so it runs on CUDA only).
    [SharedFact] public void MiGreedyPlugin_Stories260K_SamePlan() => CheckStories260K(null, "mi-greedy", "plugin");
}

[Collection(KernelCollection.Name)]
public sealed class GramDeviceTestsOnCuda : GramDeviceTests
{
    protected override IlgpuMiBackend Backend => IlgpuMiBackend.Cuda;
    [CudaFact] public void Covariance_RandomMatrix_EqualsCpu() => CheckCovarianceOnRandomMatrix();
    [CudaFact] public void MiConditional_Stories260K_SamePlan() => CheckStories260K(null, "mi-conditional");
    [CudaFact] public void MiConditionalCopulaUpdate_Stories260K_SamePlan() =>
        CheckStories260K(new PlanParameters().Set("space", "copula").Set("update", true), "mi-conditional");
    [CudaFact] public void MiWeightedPlugin_Stories260K_SamePlan() => CheckStories260K(null, "mi-weighted", "plugin");
    [CudaFact] public void MiGreedyPlugin_Stories260K_SamePlan() => CheckStories260K(null, "mi-greedy", "plugin");
}
