using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>
/// Per-column statistics on the device, float64: mean, population standard deviation (ddof 0, two-pass:
/// sqrt(sum (v - mean)^2 / S)) and a constant flag (1 when min == max: such a column carries no information and
/// every kernel reports MI 0 for its pairs). Owns three device buffers of length N.
/// </summary>
public sealed class ColumnStatistics : IDisposable
{
    public MemoryBuffer1D<double, Stride1D.Dense> Mean { get; }
    public MemoryBuffer1D<double, Stride1D.Dense> Std { get; }
    public MemoryBuffer1D<int, Stride1D.Dense> Constant { get; }

    private ColumnStatistics(Accelerator accelerator, int columns)
    {
        Mean = accelerator.Allocate1D<double>(columns);
        Std = accelerator.Allocate1D<double>(columns);
        Constant = accelerator.Allocate1D<int>(columns);
    }

    /// <summary>Computes the statistics of every column of <paramref name="z"/> (one group per column).</summary>
    public static ColumnStatistics Compute(MiAccelerator accelerator, DeviceColumns z)
    {
        var stats = new ColumnStatistics(accelerator.Accelerator, z.Columns);
        var kernel = accelerator.Kernel("ColumnStatistics." + nameof(StatisticsKernel), a =>
            a.LoadStreamKernel<ArrayView<float>, int, ArrayView<double>, ArrayView<double>, ArrayView<int>>(StatisticsKernel));
        kernel(new KernelConfig(z.Columns, accelerator.GroupSize), z.Data.View, z.Rows, stats.Mean.View, stats.Std.View, stats.Constant.View);
        accelerator.Accelerator.Synchronize();
        return stats;
    }

    /// <summary>Group = column Grid.IdxX; threads stride over its S values.</summary>
    internal static void StatisticsKernel(ArrayView<float> columns, int rows, ArrayView<double> mean, ArrayView<double> std, ArrayView<int> constant)
    {
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        int column = Grid.IdxX;
        var v = columns.SubView((long)column * rows, rows);
        double sum = 0, lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        for (int s = Group.IdxX; s < rows; s += Group.DimX)
        {
            double x = v[s];
            sum += x;
            if (x < lo) lo = x;
            if (x > hi) hi = x;
        }
        double m = DeviceReduce.GroupSum(scratch, sum) / rows;
        double min = DeviceReduce.GroupMin(scratch, lo);
        double max = DeviceReduce.GroupMax(scratch, hi);
        double squares = 0;
        for (int s = Group.IdxX; s < rows; s += Group.DimX)
        {
            double d = v[s] - m;
            squares += d * d;
        }
        double total = DeviceReduce.GroupSum(scratch, squares);
        if (Group.IdxX == 0)
        {
            mean[column] = m;
            std[column] = ILGPU.Algorithms.XMath.Sqrt(total / rows);
            constant[column] = min == max ? 1 : 0;
        }
    }

    public void Dispose()
    {
        Mean.Dispose();
        Std.Dispose();
        Constant.Dispose();
    }
}
