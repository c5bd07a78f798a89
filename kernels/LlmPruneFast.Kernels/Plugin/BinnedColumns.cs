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

    /// <summary>c ln c for c = 0..S (0 ln 0 = 0), float64 from the host's Math.Log: the only logarithms the MI needs.</summary>
    public MemoryBuffer1D<double, Stride1D.Dense> CLogC { get; }

    private BinnedColumns(int rows, int columns, int bins, MemoryBuffer1D<byte, Stride1D.Dense> codes, MemoryBuffer1D<int, Stride1D.Dense> constant,
        MemoryBuffer1D<double, Stride1D.Dense> cLogC)
    {
        CLogC = cLogC;
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
        var table = new double[z.Rows + 1];
        for (int c = 1; c <= z.Rows; c++) table[c] = c * Math.Log(c);
        var cLogC = accelerator.Accelerator.Allocate1D<double>(table.Length);
        cLogC.Upload(table);
        return new BinnedColumns(z.Rows, z.Columns, bins, codes, constant, cLogC);
    }

    public void Dispose()
    {
        Codes.Dispose();
        Constant.Dispose();
        CLogC.Dispose();
    }
}
