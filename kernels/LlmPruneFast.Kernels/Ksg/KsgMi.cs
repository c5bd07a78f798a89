using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Ksg;

/// <summary>
/// KSG (Kraskov estimator 1), nats, for a pair list. Each column is scaled to unit variance without centring,
/// x' = x / std(x) (ddof 0, float64; a constant column gives MI 0); distances are taken as |x_r - x_s| * (1/std), the
/// float32 difference being exact in float64, so samples tied in raw distance stay tied after scaling. For sample s,
/// eps(s) = distance to its k-th nearest other sample in the max-norm max(|dx'|, |dy'|); n_x(s) = #{r != s : |x'_r - x'_s| &lt; eps(s)} (strict, as
/// scikit-learn's radius query with nextafter(eps, 0) counts), n_y likewise; then
/// I = psi(S) + psi(k) - mean_s [psi(n_x + 1) + psi(n_y + 1)], not clipped at 0 (the caller clips if it wants).
/// One thread group per pair, one thread per sample (strided); neighbours by brute force, O(S^2) per pair: right
/// for S &lt;= 4096 on a GPU, slow beyond. Distances in float64. k &lt;= <see cref="MaxK"/>.
/// </summary>
public static class KsgMi
{
    /// <summary>Largest k (the k nearest distances live in a per-thread array of this size).</summary>
    public const int MaxK = 32;

    /// <summary>
    /// Per-column precomputation: 1 / std (ddof 0, float64; 1 for a constant column) and the constant flags. Keeps a
    /// reference to the columns it was made from (not owned: dispose the <see cref="DeviceColumns"/> after this).
    /// </summary>
    public sealed class ScaledColumns : IDisposable
    {
        public DeviceColumns Source { get; }
        public int Rows => Source.Rows;
        public int Columns => Source.Columns;
        public MemoryBuffer1D<double, Stride1D.Dense> InverseStd { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Constant { get; }

        private ScaledColumns(DeviceColumns source, MemoryBuffer1D<double, Stride1D.Dense> inverseStd, MemoryBuffer1D<int, Stride1D.Dense> constant)
        {
            Source = source;
            InverseStd = inverseStd;
            Constant = constant;
        }

        public static ScaledColumns Create(MiAccelerator accelerator, DeviceColumns z)
        {
            using var stats = ColumnStatistics.Compute(accelerator, z);
            var std = stats.Std.GetAsArray1D();
            var inverse = Array.ConvertAll(std, sd => sd > 0 ? 1.0 / sd : 1.0);
            var inverseStd = accelerator.Accelerator.Allocate1D<double>(z.Columns);
            inverseStd.Upload(inverse);
            var constant = accelerator.Accelerator.Allocate1D<int>(z.Columns);
            constant.CopyFrom(stats.Constant);
            return new ScaledColumns(z, inverseStd, constant);
        }

        public void Dispose()
        {
            InverseStd.Dispose();
            Constant.Dispose();
        }
    }

    /// <summary>KSG MI of each listed pair into <paramref name="mi"/>.</summary>
    public static void PairList(MiAccelerator accelerator, ScaledColumns scaled, int k, ReadOnlySpan<(int I, int J)> pairs, Span<double> mi,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (k < 1 || k > MaxK) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {MaxK}]");
        if (scaled.Rows <= k) throw new ArgumentException($"KSG with k = {k} needs more than {k} samples, found S = {scaled.Rows}", nameof(k));
        var kernel = accelerator.Kernel("KsgMi." + nameof(PairKernel), a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<int>, ArrayView<int>, ArrayView<double>, int, int>(PairKernel));
        PairBatches.Run(accelerator, scaled.Columns, pairs, mi, (pairView, resultView, count) =>
            kernel(new KernelConfig(count, accelerator.GroupSize), scaled.Source.Data.View, scaled.InverseStd.View, scaled.Constant.View,
                pairView, resultView, scaled.Rows, k),
            progress, cancellationToken);
    }

    /// <summary>Group = pair Grid.IdxX; thread t handles samples t, t + G, ...</summary>
    internal static void PairKernel(ArrayView<float> columns, ArrayView<double> inverseStd, ArrayView<int> constant, ArrayView<int> pairs,
        ArrayView<double> mi, int rows, int k)
    {
        int g = Grid.IdxX;
        int i = pairs[2 * g], j = pairs[2 * g + 1];
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        if (constant[i] != 0 || constant[j] != 0)
        {
            if (Group.IdxX == 0) mi[g] = 0;
            return;
        }
        var x = columns.SubView((long)i * rows, rows);
        var y = columns.SubView((long)j * rows, rows);
        double ax = inverseStd[i], ay = inverseStd[j];
        var nearest = LocalMemory.Allocate<double>(MaxK);
        double sum = 0;
        for (int s = Group.IdxX; s < rows; s += Group.DimX)
        {
            double xs = x[s], ys = y[s];
            for (int q = 0; q < k; q++) nearest[q] = double.PositiveInfinity;
            // k smallest max-norm distances to the other samples, kept sorted ascending by insertion.
            for (int r = 0; r < rows; r++)
            {
                if (r == s) continue;
                double d = Max(Abs(x[r] - xs) * ax, Abs(y[r] - ys) * ay);
                if (d >= nearest[k - 1]) continue;
                int q = k - 1;
                while (q > 0 && nearest[q - 1] > d)
                {
                    nearest[q] = nearest[q - 1];
                    q--;
                }
                nearest[q] = d;
            }
            double eps = nearest[k - 1];
            int nx = 0, ny = 0;
            for (int r = 0; r < rows; r++)
            {
                if (r == s) continue;
                if (Abs(x[r] - xs) * ax < eps) nx++;
                if (Abs(y[r] - ys) * ay < eps) ny++;
            }
            sum += DeviceReduce.Digamma(nx + 1) + DeviceReduce.Digamma(ny + 1);
        }
        double total = DeviceReduce.GroupSum(scratch, sum);
        if (Group.IdxX == 0) mi[g] = DeviceReduce.Digamma(rows) + DeviceReduce.Digamma(k) - total / rows;
    }

    private static double Abs(double v) => v < 0 ? -v : v;
    private static double Max(double a, double b) => a > b ? a : b;
}
