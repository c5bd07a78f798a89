using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Copula;
using LlmPruneFast.Kernels.Ksg;
using LlmPruneFast.Kernels.Plugin;
using LlmPruneFast.Kernels.Renyi;

namespace LlmPruneFast.Information;

/// <summary>
/// The ILGPU backend: the estimators computed by the kernels of LlmPruneFast.Kernels. <see cref="Cuda"/> is the one
/// registered with <see cref="MiBackends"/> (<c>--device cuda</c>, and <c>auto</c> when a CUDA device is present);
/// a backend on the ILGPU CPU accelerator can be made for tests. Supported: plug-in (B &lt;= 100, shared memory),
/// KSG (k &lt;= 32, no reproduction jitter), Renyi alpha = 2 (every bandwidth rule but "tuned"), copula.
/// Values equal the CPU backend's to about 1e-9 (plug-in, KSG, Renyi: float64 on the device) and 1e-5 relative
/// (copula: float32 scores and GEMM), KSG scales with the CPU estimator's std, so even tied distances count alike.
/// One accelerator per backend, created on first use and shared by its estimators under a lock.
/// </summary>
public sealed class IlgpuMiBackend : IMiBackend, IDisposable
{
    /// <summary>The CUDA backend (first CUDA device).</summary>
    public static readonly IlgpuMiBackend Cuda = new(MiAcceleratorKind.Cuda);

    /// <summary>Largest plug-in bin count the device kernels take ((B^2 + 2B) ints + 2 KiB must fit 48 KiB of shared memory).</summary>
    public const int MaxBins = 100;

    private readonly object _gate = new();
    private MiAccelerator? _accelerator;

    private readonly int _cpuThreadsPerGroup;

    /// <summary>
    /// A backend on <paramref name="kind"/> (Cuda, or Cpu for the ILGPU CPU accelerator, whose group size
    /// <paramref name="cpuThreadsPerGroup"/> sets: see <see cref="MiAccelerator.Create"/>; small groups, e.g. the tests' 4,
    /// run large kernels far faster, since every thread of a group is an OS thread meeting at barriers).
    /// </summary>
    public IlgpuMiBackend(MiAcceleratorKind kind, int cpuThreadsPerGroup = 16)
    {
        if (kind == MiAcceleratorKind.Auto) throw new ArgumentException("pick Cuda or Cpu; MiBackends does the auto choice", nameof(kind));
        Kind = kind;
        _cpuThreadsPerGroup = cpuThreadsPerGroup;
    }

    public MiAcceleratorKind Kind { get; }
    public string Name => Kind == MiAcceleratorKind.Cuda ? "cuda" : "ilgpu-cpu";
    public MiDevice Device => Kind == MiAcceleratorKind.Cuda ? MiDevice.Cuda : MiDevice.Cpu;
    public bool IsAvailable => Kind != MiAcceleratorKind.Cuda || MiAccelerator.CudaAvailable;

    public bool Supports(string estimator, MiEstimatorOptions options) => estimator.Trim().ToLowerInvariant() switch
    {
        "plugin" => options.Bins >= 2 && options.Bins <= MaxBins,
        "ksg" => options.K >= 1 && options.K <= KsgMi.MaxK && options.Jitter == KsgJitter.None,
        "renyi" => options.Alpha == 2.0 && options.Bandwidth.Rule != BandwidthRule.Tuned,
        "copula" => true,
        _ => false,
    };

    public IMutualInformationEstimator Create(string estimator, MiEstimatorOptions options)
    {
        var cpu = MiEstimators.Create(estimator, options); // validates the options the same way, and names/units
        if (!Supports(estimator, options))
            throw new BadArgumentException($"--device {Name}: estimator '{cpu.Name}' with {string.Join(", ", cpu.Parameters.Select(p => $"{p.Key}={p.Value}"))} has no ILGPU implementation");
        return new IlgpuEstimator(this, cpu, options);
    }

    /// <summary>Runs <paramref name="work"/> on this backend's accelerator, one caller at a time.</summary>
    internal void Run(Action<MiAccelerator> work)
    {
        lock (_gate)
        {
            try
            {
                _accelerator ??= MiAccelerator.Create(Kind, _cpuThreadsPerGroup);
            }
            catch (AcceleratorUnavailableException e)
            {
                throw new DeviceUnavailableException($"--device {Name}: {e.Message}");
            }
            work(_accelerator);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _accelerator?.Dispose();
            _accelerator = null;
        }
    }
}

/// <summary>
/// One estimator on an <see cref="IlgpuMiBackend"/>: uploads the matrix, runs the per-column preparation and the
/// pair or all-pairs kernels, then applies what the CPU estimator applies on top (Miller-Madow, KSG clipping).
/// Name, units, parameters and the minimum sample count are those of the CPU estimator of the same options.
/// </summary>
internal sealed class IlgpuEstimator(IlgpuMiBackend backend, IMutualInformationEstimator cpu, MiEstimatorOptions options) : IMutualInformationEstimator
{
    public string Name => cpu.Name;
    public MiUnits Units => cpu.Units;
    public IReadOnlyDictionary<string, object> Parameters => cpu.Parameters;
    public int MinimumSamples => cpu.MinimumSamples;

    public double Estimate(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new BadDataException($"x has {x.Length} samples but y has {y.Length}");
        var z = new ActivationMatrix(x.Length, 2);
        x.CopyTo(z.ColumnMutable(0));
        y.CopyTo(z.ColumnMutable(1));
        var result = new double[1];
        EstimatePairs(z, [(0, 1)], result);
        return result[0];
    }

    public void EstimatePairs(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, Span<double> result,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (result.Length < pairs.Length) throw new ArgumentException($"result holds {result.Length} values, {pairs.Length} pairs given");
        Validate(z);
        z.EnsurePairsInRange(pairs);
        var pairArray = pairs.ToArray();
        var output = new double[pairArray.Length];
        var kernelProgress = progress == null ? null : new Progress<long>(d => progress.Report(new MiProgress(d, pairArray.Length)));
        backend.Run(accelerator =>
        {
            using var device = DeviceColumns.FromColumnMajor(accelerator, z.ColumnMajorData, z.Rows, z.Columns);
            using var prepared = Prepare(accelerator, device, z);
            prepared.Pairs(pairArray, output, kernelProgress, cancellationToken);
        });
        output.CopyTo(result);
    }

    public void EstimateAllPairs(ActivationMatrix z, IMiTileSink sink, IProgress<MiProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Validate(z);
        int n = z.Columns;
        long total = (long)n * (n - 1) / 2, done = 0;
        PairTileSink forward = (r0, c0, rows, cols, tile) =>
        {
            sink.Accept(r0, c0, rows, cols, tile);
            done += r0 == c0 ? (long)rows * (rows - 1) / 2 : (long)rows * cols;
            progress?.Report(new MiProgress(done, total));
        };
        backend.Run(accelerator =>
        {
            using var device = DeviceColumns.FromColumnMajor(accelerator, z.ColumnMajorData, z.Rows, z.Columns);
            using var prepared = Prepare(accelerator, device, z);
            prepared.AllPairs(forward, cancellationToken);
        });
    }

    private void Validate(ActivationMatrix z)
    {
        z.EnsureFinite();
        if (z.Rows < MinimumSamples)
            throw new BadDataException($"{Name} with {string.Join(", ", Parameters.Select(p => $"{p.Key}={p.Value}"))} needs at least {MinimumSamples} samples, found S = {z.Rows}");
    }

    private Prepared Prepare(MiAccelerator accelerator, DeviceColumns device, ActivationMatrix z) => Name switch
    {
        "plugin" => new PluginPrepared(accelerator, BinnedColumns.Create(accelerator, device, options.Bins), options.MillerMadow),
        // std on the host with the CPU estimator's function: identical scaled values, identical neighbour counts.
        "ksg" => new KsgPrepared(accelerator, KsgMi.ScaledColumns.Create(accelerator, device, Stds(z)), options.K, options.ClipNegative),
        "renyi" => new RenyiPrepared(accelerator, device, RenyiAlpha2.Marginals.Compute(accelerator, device, Sigmas(z))),
        "copula" => new CopulaPrepared(accelerator, GaussianCopula.Scores.Create(accelerator, device)),
        _ => throw new BadArgumentException($"estimator '{Name}' has no ILGPU implementation"),
    };

    private static double[] Stds(ActivationMatrix z)
    {
        var std = new double[z.Columns];
        for (int j = 0; j < z.Columns; j++) std[j] = ColumnMath.NumpyStd(z.Column(j));
        return std;
    }

    /// <summary>Per-column Renyi bandwidths by the CPU estimator's rule (so both backends use the same sigma).</summary>
    private double[] Sigmas(ActivationMatrix z)
    {
        var renyi = (RenyiEstimator)cpu;
        var sigma = new double[z.Columns];
        for (int j = 0; j < z.Columns; j++)
        {
            var v = z.Column(j);
            sigma[j] = ColumnMath.IsConstant(v) ? 1.0 : renyi.SigmaOf(v);
        }
        return sigma;
    }

    /// <summary>What one estimator prepared on the device; pair lists and all pairs read it.</summary>
    private abstract class Prepared(MiAccelerator accelerator) : IDisposable
    {
        protected MiAccelerator Accelerator { get; } = accelerator;
        public abstract int Columns { get; }
        public abstract void Pairs((int I, int J)[] pairs, double[] result, IProgress<long>? progress, CancellationToken ct);

        /// <summary>Default all pairs: a pair list per tile of 256 columns (diagonal 0, diagonal tiles mirrored).</summary>
        public virtual void AllPairs(PairTileSink sink, CancellationToken ct)
        {
            const int Tile = 256;
            var pairs = new List<(int, int)>(Tile * Tile);
            var tile = new float[Tile * Tile];
            foreach (var t in PairTile.UpperTriangle(Columns, Tile))
            {
                pairs.Clear();
                for (int r = 0; r < t.RowCount; r++)
                    for (int c = t.RowStart == t.ColStart ? r + 1 : 0; c < t.ColCount; c++) pairs.Add((t.RowStart + r, t.ColStart + c));
                var values = new double[pairs.Count];
                Pairs([.. pairs], values, null, ct);
                Array.Clear(tile);
                for (int p = 0; p < pairs.Count; p++)
                {
                    int r = pairs[p].Item1 - t.RowStart, c = pairs[p].Item2 - t.ColStart;
                    tile[r * t.ColCount + c] = (float)values[p];
                    if (t.RowStart == t.ColStart) tile[c * t.ColCount + r] = (float)values[p];
                }
                sink(t.RowStart, t.ColStart, t.RowCount, t.ColCount, tile.AsSpan(0, t.RowCount * t.ColCount));
            }
        }

        public abstract void Dispose();
    }

    private sealed class PluginPrepared(MiAccelerator accelerator, BinnedColumns binned, bool millerMadow) : Prepared(accelerator)
    {
        public override int Columns => binned.Columns;

        public override void Pairs((int I, int J)[] pairs, double[] result, IProgress<long>? progress, CancellationToken ct)
        {
            var cells = millerMadow ? new int[pairs.Length] : null;
            PluginMi.PairList(Accelerator, binned, pairs, result, cells, progress, ct);
            if (cells != null)
                for (int p = 0; p < pairs.Length; p++) result[p] += cells[p] / (2.0 * binned.Rows);
        }

        public override void AllPairs(PairTileSink sink, CancellationToken ct)
        {
            if (millerMadow) base.AllPairs(sink, ct); // the tile kernel has no cell counts
            else PluginMi.AllPairs(Accelerator, binned, sink, cancellationToken: ct);
        }

        public override void Dispose() => binned.Dispose();
    }

    private sealed class KsgPrepared(MiAccelerator accelerator, KsgMi.ScaledColumns scaled, int k, bool clip) : Prepared(accelerator)
    {
        public override int Columns => scaled.Columns;

        public override void Pairs((int I, int J)[] pairs, double[] result, IProgress<long>? progress, CancellationToken ct)
        {
            KsgMi.PairList(Accelerator, scaled, k, pairs, result, progress, ct);
            if (clip)
                for (int p = 0; p < result.Length; p++) result[p] = Math.Max(0, result[p]);
        }

        public override void Dispose() => scaled.Dispose();
    }

    private sealed class RenyiPrepared(MiAccelerator accelerator, DeviceColumns device, RenyiAlpha2.Marginals marginals) : Prepared(accelerator)
    {
        public override int Columns => device.Columns;

        public override void Pairs((int I, int J)[] pairs, double[] result, IProgress<long>? progress, CancellationToken ct) =>
            RenyiAlpha2.PairList(Accelerator, device, marginals, pairs, result, progress, ct);

        public override void Dispose() => marginals.Dispose();
    }

    private sealed class CopulaPrepared(MiAccelerator accelerator, GaussianCopula.Scores scores) : Prepared(accelerator)
    {
        public override int Columns => scores.Columns;

        public override void Pairs((int I, int J)[] pairs, double[] result, IProgress<long>? progress, CancellationToken ct) =>
            GaussianCopula.PairList(Accelerator, scores, pairs, result, progress, ct);

        public override void AllPairs(PairTileSink sink, CancellationToken ct) =>
            GaussianCopula.AllPairs(Accelerator, scores, sink, cancellationToken: ct);

        public override void Dispose() => scores.Dispose();
    }
}
