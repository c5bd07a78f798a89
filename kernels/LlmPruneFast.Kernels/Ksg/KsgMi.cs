using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Ksg;

/// <summary>
/// KSG (Kraskov estimator 1), nats, for a pair list. Each column is scaled to unit variance without centring,
/// x' = x / std(x) in float64 (std ddof 0; a constant column gives MI 0). For sample s, eps(s) = distance to its
/// k-th nearest other sample in the max-norm max(|x'_r - x'_s|, |y'_r - y'_s|); n_x(s) = #{r != s : |x'_r - x'_s| &lt; eps(s)}
/// (strict, as scikit-learn's radius query with nextafter(eps, 0) counts; when eps(s) = 0 that radius is 0 and the
/// count is of exact duplicates, |dx'| == 0), n_y likewise; then
/// I = psi(S) + psi(k) - mean_s [psi(n_x + 1) + psi(n_y + 1)], not clipped at 0 (the caller clips if it wants).
/// One thread group per pair, one thread per sample (strided); neighbours by brute force, O(S^2) per pair: right
/// for S &lt;= 4096 on a GPU, slow beyond. k &lt;= <see cref="MaxK"/>.
/// </summary>
public static class KsgMi
{
    /// <summary>Largest k (the k nearest distances live in a per-thread array of this size).</summary>
    public const int MaxK = 32;

    /// <summary>The scaled columns x' = x / std [N x S] (float64) and the constant flags; made once per matrix.</summary>
    public sealed class ScaledColumns : IDisposable
    {
        public int Rows { get; }
        public int Columns { get; }
        public MemoryBuffer1D<double, Stride1D.Dense> Values { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Constant { get; }

        /// <summary>psi(n) for n = 0..S (psi(0) unused): psi(1) = -EulerGamma, psi(n+1) = psi(n) + 1/n, made on the host.</summary>
        public MemoryBuffer1D<double, Stride1D.Dense> Digamma { get; }

        private ScaledColumns(int rows, int columns, MemoryBuffer1D<double, Stride1D.Dense> values, MemoryBuffer1D<int, Stride1D.Dense> constant,
            MemoryBuffer1D<double, Stride1D.Dense> digamma)
        {
            Digamma = digamma;
            Rows = rows;
            Columns = columns;
            Values = values;
            Constant = constant;
        }

        /// <summary>
        /// Scales every column. <paramref name="std"/>, when given (one per column), is used as is, so a caller that
        /// computed std on the host gets bit-identical scaled values (x / std is exactly rounded everywhere);
        /// otherwise std comes from <see cref="ColumnStatistics"/> on the device. A std of 0 scales by 1.
        /// </summary>
        public static ScaledColumns Create(MiAccelerator accelerator, DeviceColumns z, ReadOnlySpan<double> std = default)
        {
            if (!std.IsEmpty && std.Length != z.Columns) throw new ArgumentException($"need one std per column: {z.Columns}, found {std.Length}", nameof(std));
            using var stats = ColumnStatistics.Compute(accelerator, z);
            if (!std.IsEmpty) stats.Std.Upload(std);
            var values = accelerator.Accelerator.Allocate1D<double>((long)z.Rows * z.Columns);
            var constant = accelerator.Accelerator.Allocate1D<int>(z.Columns);
            constant.CopyFrom(stats.Constant);
            var kernel = accelerator.Kernel("KsgMi." + nameof(ScaleKernel), a =>
                a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<double>, int>(ScaleKernel));
            kernel(values.IntExtent, z.Data.View, stats.Std.View, values.View, z.Rows);
            accelerator.Accelerator.Synchronize();
            var table = new double[z.Rows + 1];
            table[0] = double.NegativeInfinity;
            table[1] = -0.57721566490153286061;
            for (int n = 1; n < z.Rows; n++) table[n + 1] = table[n] + 1.0 / n;
            var digamma = accelerator.Accelerator.Allocate1D<double>(table.Length);
            digamma.Upload(table);
            return new ScaledColumns(z.Rows, z.Columns, values, constant, digamma);
        }

        public void Dispose()
        {
            Values.Dispose();
            Constant.Dispose();
            Digamma.Dispose();
        }
    }

    /// <summary>x / std for element <paramref name="index"/> (column index / S); std 0 leaves the value unscaled.</summary>
    internal static void ScaleKernel(Index1D index, ArrayView<float> columns, ArrayView<double> std, ArrayView<double> scaled, int rows)
    {
        double sd = std[index / rows];
        double v = columns[index];
        scaled[index] = sd > 0 ? v / sd : v;
    }

    /// <summary>KSG MI of each listed pair into <paramref name="mi"/>.</summary>
    public static void PairList(MiAccelerator accelerator, ScaledColumns scaled, int k, ReadOnlySpan<(int I, int J)> pairs, Span<double> mi,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (k < 1 || k > MaxK) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in [1, {MaxK}]");
        if (scaled.Rows <= k) throw new ArgumentException($"KSG with k = {k} needs more than {k} samples, found S = {scaled.Rows}", nameof(k));
        var kernel = accelerator.Kernel("KsgMi." + nameof(PairKernel), a =>
            a.LoadStreamKernel<ArrayView<double>, ArrayView<int>, ArrayView<double>, ArrayView<int>, ArrayView<double>, int, int>(PairKernel));
        PairBatches.Run(accelerator, scaled.Columns, pairs, mi, (pairView, resultView, count) =>
            kernel(new KernelConfig(count, accelerator.GroupSize), scaled.Values.View, scaled.Constant.View, scaled.Digamma.View,
                pairView, resultView, scaled.Rows, k),
            progress, cancellationToken);
    }

    /// <summary>Group = pair Grid.IdxX; thread t handles samples t, t + G, ...</summary>
    internal static void PairKernel(ArrayView<double> scaled, ArrayView<int> constant, ArrayView<double> digamma, ArrayView<int> pairs,
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
        var x = scaled.SubView((long)i * rows, rows);
        var y = scaled.SubView((long)j * rows, rows);
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
                double d = Max(Abs(x[r] - xs), Abs(y[r] - ys));
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
                double dx = Abs(x[r] - xs), dy = Abs(y[r] - ys);
                // Strictly inside eps; at eps = 0 the radius is 0 and exact duplicates count.
                if (eps > 0 ? dx < eps : dx == 0) nx++;
                if (eps > 0 ? dy < eps : dy == 0) ny++;
            }
            sum += digamma[nx + 1] + digamma[ny + 1];
        }
        double total = DeviceReduce.GroupSum(scratch, sum);
        if (Group.IdxX == 0) mi[g] = digamma[rows] + digamma[k] - total / rows;
    }

    private static double Abs(double v) => v < 0 ? -v : v;
    private static double Max(double a, double b) => a > b ? a : b;
}
