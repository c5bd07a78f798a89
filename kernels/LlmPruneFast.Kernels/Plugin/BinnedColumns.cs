using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Plugin;

/// <summary>
/// The plug-in estimator's per-column precomputation on the device: equal-frequency codes [N x S] (see
/// <see cref="EqualFrequencyBinning"/>) and the constant-column flags. Made once per matrix, reused by every pair.
/// </summary>
public sealed class BinnedColumns : IDisposable
{
    public int Rows { get; }
    public int Columns { get; }
    public int Bins { get; }
    public MemoryBuffer1D<byte, Stride1D.Dense> Codes { get; }
    public MemoryBuffer1D<int, Stride1D.Dense> Constant { get; }

    private BinnedColumns(int rows, int columns, int bins, MemoryBuffer1D<byte, Stride1D.Dense> codes, MemoryBuffer1D<int, Stride1D.Dense> constant)
    {
        Rows = rows;
        Columns = columns;
        Bins = bins;
        Codes = codes;
        Constant = constant;
    }

    /// <summary>Bins every column of <paramref name="z"/> into <paramref name="bins"/> equal-frequency bins.</summary>
    public static BinnedColumns Create(MiAccelerator accelerator, DeviceColumns z, int bins)
    {
        var codes = EqualFrequencyBinning.Compute(accelerator, z, bins);
        using var stats = ColumnStatistics.Compute(accelerator, z);
        var constant = accelerator.Accelerator.Allocate1D<int>(z.Columns);
        constant.CopyFrom(stats.Constant);
        return new BinnedColumns(z.Rows, z.Columns, bins, codes, constant);
    }

    public void Dispose()
    {
        Codes.Dispose();
        Constant.Dispose();
    }
}
