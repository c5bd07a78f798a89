using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>
/// 0-based stable ranks of every column: rank(s) = #{r : v_r &lt; v_s} + #{r &lt; s : v_r == v_s} (ties broken by row
/// index; -0 == +0). Computed by counting, one thread per (column, row): O(S) work per element, O(S^2 N) in all,
/// which on a GPU is milliseconds for S &lt;= 8192 and needs no sort or scratch memory.
/// </summary>
public static class ColumnRanks
{
    /// <summary>Ranks of <paramref name="z"/> as an int buffer [N x S], column-major like the input. The caller owns it.</summary>
    public static MemoryBuffer1D<int, Stride1D.Dense> Compute(MiAccelerator accelerator, DeviceColumns z)
    {
        var ranks = accelerator.Accelerator.Allocate1D<int>((long)z.Rows * z.Columns);
        var kernel = accelerator.Kernel("ColumnRanks." + nameof(RankKernel), a =>
            a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, int>(RankKernel));
        kernel(ranks.IntExtent, z.Data.View, ranks.View, z.Rows);
        accelerator.Accelerator.Synchronize();
        return ranks;
    }

    /// <summary>Element <paramref name="index"/> = column * S + row: counts the values of its column that sort before it.</summary>
    internal static void RankKernel(Index1D index, ArrayView<float> columns, ArrayView<int> ranks, int rows)
    {
        int column = index / rows;
        int row = index - column * rows;
        long start = (long)column * rows;
        float v = columns[start + row];
        int rank = 0;
        for (int r = 0; r < rows; r++)
        {
            float u = columns[start + r];
            if (u < v || (u == v && r < row)) rank++;
        }
        ranks[index] = rank;
    }
}
