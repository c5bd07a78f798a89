using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;

namespace LlmPruneFast.Kernels.Plugin;

/// <summary>
/// Plug-in MI on equal-frequency bins, in nats: I = sum_ab p(a,b) ln(p(a,b) / (p(a) p(b))) with p = counts / S and
/// the marginals p(a), p(b) taken from the joint table itself (S need not be a multiple of B). Computed as
/// I = (sum_ab c_ab ln c_ab - sum_a r_a ln r_a - sum_b k_b ln k_b + S ln S) / S from a host table of c ln c. No bias correction;
/// the pair-list kernel also returns m_a + m_b - m_ab - 1 (occupied cells) for a Miller-Madow correction
/// I_MM = I + that / (2S). A pair with a constant column has MI 0.
/// One thread group per pair: the B x B histogram lives in shared memory (integer atomics, so deterministic),
/// the log-sum is reduced by a fixed tree. Needs (B^2 + 2B) * 4 bytes of shared memory: B &lt;= 100 on CUDA.
/// </summary>
public static class PluginMi
{
    /// <summary>MI of each listed pair into <paramref name="mi"/>; optional Miller-Madow cell counts into <paramref name="millerMadowCells"/>.</summary>
    public static void PairList(MiAccelerator accelerator, BinnedColumns binned, ReadOnlySpan<(int I, int J)> pairs, Span<double> mi,
        Span<int> millerMadowCells = default, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var config = GroupConfig(accelerator, binned.Bins);
        var kernel = accelerator.Kernel("PluginMi." + nameof(PairKernel), a =>
            a.LoadStreamKernel<ArrayView<byte>, ArrayView<int>, ArrayView<double>, ArrayView<int>, ArrayView<double>, ArrayView<int>, int, int>(PairKernel));
        using var cells = accelerator.Accelerator.Allocate1D<int>(Math.Max(1, Math.Min(PairBatches.BatchSize, pairs.Length)));
        if (!millerMadowCells.IsEmpty && millerMadowCells.Length < pairs.Length)
            throw new ArgumentException("millerMadowCells is shorter than the pair list", nameof(millerMadowCells));
        int done = 0;
        var cellsHost = millerMadowCells.IsEmpty ? null : new int[pairs.Length];
        PairBatches.Run(accelerator, binned.Columns, pairs, mi, (pairView, resultView, count) =>
        {
            kernel(new KernelConfig(count, config.Group, config.Shared), binned.Codes.View, binned.Constant.View, binned.CLogC.View,
                pairView, resultView, cells.View, binned.Rows, binned.Bins);
            if (cellsHost != null)
            {
                accelerator.Accelerator.Synchronize();
                cells.View.BaseView.Download(cellsHost.AsSpan(done, count));
            }
            done += count;
        }, progress, cancellationToken);
        cellsHost?.CopyTo(millerMadowCells);
    }

    /// <summary>
    /// MI of every pair of columns, delivered tile by tile (upper block triangle, tiles of edge <paramref name="tile"/>;
    /// 0 picks 1024 on CUDA, 128 on the CPU accelerator). Device memory: <c>tile^2 * 4</c> bytes for one tile.
    /// </summary>
    public static void AllPairs(MiAccelerator accelerator, BinnedColumns binned, PairTileSink sink, int tile = 0,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (tile <= 0) tile = accelerator.IsCuda ? 1024 : 128;
        tile = Math.Min(tile, binned.Columns);
        var config = GroupConfig(accelerator, binned.Bins);
        var kernel = accelerator.Kernel("PluginMi." + nameof(TileKernel), a =>
            a.LoadStreamKernel<ArrayView<byte>, ArrayView<int>, ArrayView<double>, ArrayView<float>, int, int, int, int, int>(TileKernel));
        using var output = accelerator.Accelerator.Allocate1D<float>((long)tile * tile);
        var host = new float[tile * tile];
        long tilesDone = 0;
        foreach (var t in PairTile.UpperTriangle(binned.Columns, tile))
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = t.RowCount * t.ColCount;
            kernel(new KernelConfig(count, config.Group, config.Shared), binned.Codes.View, binned.Constant.View, binned.CLogC.View,
                output.View, t.RowStart, t.ColStart, t.ColCount, binned.Rows, binned.Bins);
            accelerator.Accelerator.Synchronize();
            output.View.BaseView.Download(host.AsSpan(0, count));
            sink(t.RowStart, t.ColStart, t.RowCount, t.ColCount, host.AsSpan(0, count));
            progress?.Report(++tilesDone);
        }
    }

    /// <summary>Group = pair Grid.IdxX of the batch: (pairs[2g], pairs[2g+1]).</summary>
    internal static void PairKernel(ArrayView<byte> codes, ArrayView<int> constant, ArrayView<double> cLogC, ArrayView<int> pairs,
        ArrayView<double> mi, ArrayView<int> millerMadowCells, int rows, int bins)
    {
        int g = Grid.IdxX;
        int i = pairs[2 * g], j = pairs[2 * g + 1];
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        var counts = SharedMemory.GetDynamic<int>();
        int cells = 0;
        double value = constant[i] != 0 || constant[j] != 0 ? 0 : PairMi(codes, cLogC, i, j, rows, bins, counts, scratch, out cells);
        if (Group.IdxX == 0)
        {
            mi[g] = value;
            millerMadowCells[g] = cells;
        }
    }

    /// <summary>Group = pair (rowStart + g / colCount, colStart + g % colCount) of a tile; writes float MI, 0 on i == j.</summary>
    internal static void TileKernel(ArrayView<byte> codes, ArrayView<int> constant, ArrayView<double> cLogC, ArrayView<float> tile,
        int rowStart, int colStart, int colCount, int rows, int bins)
    {
        int g = Grid.IdxX;
        int r = g / colCount;
        int i = rowStart + r, j = colStart + (g - r * colCount);
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        var counts = SharedMemory.GetDynamic<int>();
        double value = i == j || constant[i] != 0 || constant[j] != 0 ? 0 : PairMi(codes, cLogC, i, j, rows, bins, counts, scratch, out _);
        if (Group.IdxX == 0) tile[g] = (float)value;
    }

    /// <summary>
    /// Joint histogram of codes (i, j) in <paramref name="counts"/> (B*B cells, then B row sums, then B column sums)
    /// and its MI; every thread of the group must call it (it contains barriers).
    /// </summary>
    private static double PairMi(ArrayView<byte> codes, ArrayView<double> cLogC, int i, int j, int rows, int bins, ArrayView<int> counts,
        ArrayView<double> scratch, out int millerMadowCells)
    {
        int t = Group.IdxX, step = Group.DimX, cellCount = bins * bins;
        for (int c = t; c < cellCount + 2 * bins; c += step) counts[c] = 0;
        Group.Barrier();
        long a0 = (long)i * rows, b0 = (long)j * rows;
        for (int s = t; s < rows; s += step)
            Atomic.Add(ref counts[codes[a0 + s] * bins + codes[b0 + s]], 1);
        Group.Barrier();
        return MiFromCounts(counts, cLogC, rows, bins, scratch, out millerMadowCells);
    }

    /// <summary>
    /// MI (nats) of the joint count table in <paramref name="counts"/>[0..B*B) (row a = code of the first column);
    /// uses counts[B*B..B*B+2B) for the marginals. Every thread of the group must call it after a barrier.
    /// </summary>
    internal static double MiFromCounts(ArrayView<int> counts, ArrayView<double> cLogC, int rows, int bins, ArrayView<double> scratch,
        out int millerMadowCells)
    {
        int t = Group.IdxX, step = Group.DimX, cellCount = bins * bins;
        // Marginals from the joint table: thread t sums row t and column t.
        for (int m = t; m < bins; m += step)
        {
            int rowSum = 0, colSum = 0;
            for (int k = 0; k < bins; k++)
            {
                rowSum += counts[m * bins + k];
                colSum += counts[k * bins + m];
            }
            counts[cellCount + m] = rowSum;
            counts[cellCount + bins + m] = colSum;
        }
        Group.Barrier();
        double sum = 0, occupied = 0;
        for (int c = t; c < cellCount; c += step)
        {
            int n = counts[c];
            if (n == 0) continue;
            sum += cLogC[n];
            occupied += 1;
        }
        double marginalCells = 0;
        for (int m = t; m < bins; m += step)
        {
            int r = counts[cellCount + m], k = counts[cellCount + bins + m];
            sum -= cLogC[r] + cLogC[k];
            marginalCells += (r > 0 ? 1 : 0) + (k > 0 ? 1 : 0);
        }
        double total = DeviceReduce.GroupSum(scratch, sum);
        double jointCells = DeviceReduce.GroupSum(scratch, occupied);
        double marginal = DeviceReduce.GroupSum(scratch, marginalCells);
        millerMadowCells = (int)(marginal - jointCells) - 1;
        // Clamp the rounding residue of independent tables (true I >= 0) so it never shows as -1e-16.
        double mi = (total + cLogC[rows]) / rows;
        return mi > 0 ? mi : 0;
    }

    private static (int Group, SharedMemoryConfig Shared) GroupConfig(MiAccelerator accelerator, int bins)
    {
        long bytes = (long)(bins * bins + 2 * bins) * sizeof(int) + DeviceReduce.MaxGroupSize * sizeof(double);
        if (bytes > accelerator.Accelerator.MaxSharedMemoryPerGroup)
            throw new ArgumentOutOfRangeException(nameof(bins), bins,
                $"{bins} bins need {bytes} bytes of shared memory per group; this accelerator has {accelerator.Accelerator.MaxSharedMemoryPerGroup}");
        return (accelerator.GroupSize, SharedMemoryConfig.RequestDynamic<int>(bins * bins + 2 * bins));
    }
}
