using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Plugin;

/// <summary>
/// Equal-frequency binning of every column: code(s) = floor(rank(s) * B / S) with the 0-based stable ranks of
/// <see cref="ColumnRanks"/>, so bin b holds the samples of ranks [ceil(b S / B), ceil((b+1) S / B)).
/// Codes are bytes (2 &lt;= B &lt;= 256), [N x S] column-major like the input.
/// </summary>
public static class EqualFrequencyBinning
{
    /// <summary>Largest supported bin count (codes are bytes).</summary>
    public const int MaxBins = 256;

    /// <summary>Bins every column of <paramref name="z"/>; the caller owns the returned buffer.</summary>
    public static MemoryBuffer1D<byte, Stride1D.Dense> Compute(MiAccelerator accelerator, DeviceColumns z, int bins)
    {
        CheckBins(bins, z.Rows);
        using var ranks = ColumnRanks.Compute(accelerator, z);
        var codes = accelerator.Accelerator.Allocate1D<byte>(ranks.Length);
        var kernel = accelerator.Kernel("EqualFrequencyBinning." + nameof(BinKernel), a =>
            a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<byte>, int, int>(BinKernel));
        kernel(codes.IntExtent, ranks.View, codes.View, z.Rows, bins);
        accelerator.Accelerator.Synchronize();
        return codes;
    }

    /// <summary>code = floor(rank * B / S), in 64-bit to avoid overflow of rank * B.</summary>
    internal static void BinKernel(Index1D index, ArrayView<int> ranks, ArrayView<byte> codes, int rows, int bins) =>
        codes[index] = (byte)((long)ranks[index] * bins / rows);

    internal static void CheckBins(int bins, int rows)
    {
        if (bins < 2 || bins > MaxBins) throw new ArgumentOutOfRangeException(nameof(bins), bins, $"bins must be in [2, {MaxBins}]");
        if (rows < bins) throw new ArgumentException($"{bins} bins need at least {bins} samples, found S = {rows}", nameof(rows));
    }
}
