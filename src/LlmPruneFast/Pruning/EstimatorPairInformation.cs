using LlmPruneFast.Capture;
using LlmPruneFast.Information;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Adapter from an <see cref="IMutualInformationEstimator"/> (LlmPruneFast.Information) to the selectors' seam
/// <see cref="IPairInformation"/>. Values are converted to nats (bits x ln 2) so thresholds and exp(-2 I) weights
/// mean the same for every estimator. The layer's activations are copied once into the estimator's column-major
/// <see cref="ActivationMatrix"/>.
/// </summary>
public sealed class EstimatorPairInformation : IPairInformation
{
    private readonly IMutualInformationEstimator _estimator;

    public EstimatorPairInformation(IMutualInformationEstimator estimator)
    {
        _estimator = estimator;
        Parameters = new PlanParameters();
        foreach (var (key, value) in estimator.Parameters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            switch (value)
            {
                case bool b: Parameters.Set(key, b); break;
                case int i: Parameters.Set(key, (long)i); break;
                case long l: Parameters.Set(key, l); break;
                case float f: Parameters.Set(key, (double)f); break;
                case double d: Parameters.Set(key, d); break;
                default: Parameters.Set(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""); break;
            }
        }
        if (estimator.Units == MiUnits.Bits) Parameters.Set("reported_in", "nats (converted from bits)");
    }

    /// <summary>
    /// An adapter over the estimator <paramref name="name"/> of <see cref="MiEstimators.Create"/> (which validates the
    /// name and options), on <paramref name="device"/>'s MI backend: the ILGPU CUDA kernels when estimation runs on
    /// CUDA and they implement the options, else the CPU.
    /// </summary>
    public static EstimatorPairInformation Create(string name, MiEstimatorOptions? options = null, Devices.ComputeDevice? device = null)
    {
        options ??= new MiEstimatorOptions();
        var cpu = MiEstimators.Create(name, options);
        if (device is not { EstimationCuda: true }) return new(cpu);
        var backend = device.MiBackend(name, options);
        return new(backend.Create(name, options)) { Device = backend.Name };
    }

    /// <summary>The MI backend that computes the values ("cpu", "cuda"), for reports.</summary>
    public string Device { get; private init; } = "cpu";

    public string Name => _estimator.Name;
    public PlanParameters Parameters { get; }

    public ILayerInformation Prepare(LayerActivations activations, CancellationToken ct)
    {
        if (activations.Rows < _estimator.MinimumSamples)
            throw new BadDataException($"layer {activations.Index}: {activations.Rows} calibration tokens, estimator '{Name}' needs at least {_estimator.MinimumSamples}");
        var z = ActivationMatrix.FromRowMajor(activations.Rows, activations.Columns, activations.Data.Span);
        return new Layer(_estimator, z, _estimator.Units == MiUnits.Bits ? Math.Log(2) : 1.0);
    }

    private sealed class Layer(IMutualInformationEstimator estimator, ActivationMatrix z, double toNats) : ILayerInformation
    {
        public int Neurons => z.Columns;

        public double Pair(int i, int j) => estimator.Estimate(z.Column(i), z.Column(j)) * toNats;

        public double[] AllPairs(IProgress<double>? progress, CancellationToken ct)
        {
            var sink = new DenseMiSink(z.Columns);
            var inner = progress == null ? null : new SyncProgress<MiProgress>(p => progress.Report(p.PairsTotal > 0 ? (double)p.PairsDone / p.PairsTotal : 1.0));
            estimator.EstimateAllPairs(z, sink, inner, ct);
            var m = new double[sink.Matrix.Length];
            for (long k = 0; k < m.Length; k++) m[k] = sink.Matrix[k] * toNats;
            return m;
        }

        public double[] NullSamples(int count, int seed, CancellationToken ct) =>
            PermutationNull.Compute(estimator, z, count, seed, null, ct).Values.Select(v => v * toNats).ToArray();
    }
}

/// <summary>An <see cref="IProgress{T}"/> that calls its handler synchronously on the reporting thread.</summary>
internal sealed class SyncProgress<T>(Action<T> handler) : IProgress<T>
{
    public void Report(T value) => handler(value);
}
