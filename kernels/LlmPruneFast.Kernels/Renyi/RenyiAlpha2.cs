using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Renyi;

/// <summary>
/// Matrix-based Renyi entropy of order alpha = 2, bits, with the Gaussian Gram K_st = exp(-(v_s - v_t)^2 / (2 sigma^2)).
/// For A = K / S: S_2(A) = -log2 ||A||_F^2 = -log2(M / S^2) with the marginal term M = sum_st K_st^2
/// = sum_st exp(-(v_s - v_t)^2 / sigma^2). The joint matrix C = (A o B) / tr(A o B); K_ss = 1 gives tr(A o B) = 1/S,
/// so C = Kx o Ky / S and ||C||_F^2 = M_xy / S^2 with M_xy = sum_st Kx_st^2 Ky_st^2. Hence
/// I = S_2(A) + S_2(B) - S_2(C) = log2(M_xy S^2 / (M_x M_y)).
/// Sums run over s &lt; t twice plus the S diagonal ones, in float64, with <see cref="DeviceReduce.ExpNonPositive"/> (no device
/// math library); the final log2 runs on the host. A constant column gives MI 0.
/// O(S^2) per column and per pair; one thread group per column or pair.
/// </summary>
public static class RenyiAlpha2
{
    /// <summary>The per-column precomputation: 1 / sigma^2, the marginal terms M, the constant flags.</summary>
    public sealed class Marginals : IDisposable
    {
        public int Rows { get; }
        public int Columns { get; }
        public MemoryBuffer1D<double, Stride1D.Dense> InverseSigmaSquared { get; }
        public MemoryBuffer1D<double, Stride1D.Dense> Terms { get; }
        public MemoryBuffer1D<int, Stride1D.Dense> Constant { get; }

        private Marginals(Accelerator accelerator, int rows, int columns)
        {
            Rows = rows;
            Columns = columns;
            InverseSigmaSquared = accelerator.Allocate1D<double>(columns);
            Terms = accelerator.Allocate1D<double>(columns);
            Constant = accelerator.Allocate1D<int>(columns);
        }

        /// <summary>
        /// Computes M_j = sum_st exp(-(v_s - v_t)^2 / sigma_j^2) for every column; <paramref name="sigma"/> holds one
        /// bandwidth per column, positive and finite (a constant column's sigma is ignored).
        /// </summary>
        public static Marginals Compute(MiAccelerator accelerator, DeviceColumns z, ReadOnlySpan<double> sigma)
        {
            if (sigma.Length != z.Columns) throw new ArgumentException($"need one sigma per column: {z.Columns}, found {sigma.Length}", nameof(sigma));
            using var stats = ColumnStatistics.Compute(accelerator, z);
            var constant = stats.Constant.GetAsArray1D();
            var inverse = new double[z.Columns];
            for (int j = 0; j < z.Columns; j++)
            {
                if (constant[j] != 0) continue;
                if (!(sigma[j] > 0) || double.IsInfinity(sigma[j]))
                    throw new ArgumentOutOfRangeException(nameof(sigma), sigma[j], $"sigma of column {j} must be positive and finite");
                inverse[j] = 1.0 / (sigma[j] * sigma[j]);
            }
            var m = new Marginals(accelerator.Accelerator, z.Rows, z.Columns);
            m.InverseSigmaSquared.Upload(inverse);
            m.Constant.Upload(constant);
            var kernel = accelerator.Kernel("RenyiAlpha2." + nameof(MarginalKernel), a =>
                a.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<double>, int>(MarginalKernel));
            kernel(new KernelConfig(z.Columns, accelerator.GroupSize), z.Data.View, m.InverseSigmaSquared.View, m.Terms.View, z.Rows);
            accelerator.Accelerator.Synchronize();
            return m;
        }

        public void Dispose()
        {
            InverseSigmaSquared.Dispose();
            Terms.Dispose();
            Constant.Dispose();
        }
    }

    /// <summary>I (bits) of each listed pair, from the joint term M_xy and the precomputed marginal terms.</summary>
    public static void PairList(MiAccelerator accelerator, DeviceColumns z, Marginals marginals, ReadOnlySpan<(int I, int J)> pairs, Span<double> mi,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (marginals.Rows != z.Rows || marginals.Columns != z.Columns) throw new ArgumentException("marginals were computed for another matrix", nameof(marginals));
        var kernel = accelerator.Kernel("RenyiAlpha2." + nameof(JointKernel), a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<double>, ArrayView<int>, ArrayView<int>, ArrayView<double>, int>(JointKernel));
        PairBatches.Run(accelerator, z.Columns, pairs, mi, (pairView, resultView, count) =>
            kernel(new KernelConfig(count, accelerator.GroupSize), z.Data.View, marginals.InverseSigmaSquared.View, marginals.Terms.View,
                marginals.Constant.View, pairView, resultView, z.Rows),
            progress, cancellationToken);
        for (int p = 0; p < pairs.Length; p++) mi[p] = Math.Log2(mi[p]);
    }

    /// <summary>Group = column Grid.IdxX: M = S + 2 sum_{s&lt;t} exp(-(v_s - v_t)^2 / sigma^2).</summary>
    internal static void MarginalKernel(ArrayView<float> columns, ArrayView<double> inverseSigmaSquared, ArrayView<double> terms, int rows)
    {
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        int column = Grid.IdxX;
        var v = columns.SubView((long)column * rows, rows);
        double a = inverseSigmaSquared[column];
        double sum = 0;
        for (int s = Group.IdxX; s < rows; s += Group.DimX)
        {
            double vs = v[s];
            for (int t = s + 1; t < rows; t++)
            {
                double d = v[t] - vs;
                sum += DeviceReduce.ExpNonPositive(-d * d * a);
            }
        }
        double total = DeviceReduce.GroupSum(scratch, sum);
        if (Group.IdxX == 0) terms[column] = rows + 2 * total;
    }

    /// <summary>Group = pair Grid.IdxX: M_xy = S + 2 sum_{s&lt;t} exp(-(dx^2/sx^2 + dy^2/sy^2)); writes 2^I = M_xy S^2 / (M_x M_y).</summary>
    internal static void JointKernel(ArrayView<float> columns, ArrayView<double> inverseSigmaSquared, ArrayView<double> terms,
        ArrayView<int> constant, ArrayView<int> pairs, ArrayView<double> mi, int rows)
    {
        int g = Grid.IdxX;
        int i = pairs[2 * g], j = pairs[2 * g + 1];
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        if (constant[i] != 0 || constant[j] != 0)
        {
            if (Group.IdxX == 0) mi[g] = 1; // 2^0
            return;
        }
        var x = columns.SubView((long)i * rows, rows);
        var y = columns.SubView((long)j * rows, rows);
        double ax = inverseSigmaSquared[i], ay = inverseSigmaSquared[j];
        double sum = 0;
        for (int s = Group.IdxX; s < rows; s += Group.DimX)
        {
            double xs = x[s], ys = y[s];
            for (int t = s + 1; t < rows; t++)
            {
                double dx = x[t] - xs, dy = y[t] - ys;
                sum += DeviceReduce.ExpNonPositive(-(dx * dx * ax + dy * dy * ay));
            }
        }
        double joint = rows + 2 * DeviceReduce.GroupSum(scratch, sum);
        if (Group.IdxX == 0) mi[g] = joint * rows / terms[i] * rows / terms[j]; // 2^I; the host takes log2

    }
}
