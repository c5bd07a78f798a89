using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Gemm;

namespace LlmPruneFast.Kernels.Plugin;

/// <summary>
/// All-pairs plug-in MI as matrix products: with the one-hot matrix H (rows = (column i, bin a), S entries
/// H[(i,a), s] = [code_i(s) == a]), the joint histogram of pair (i, j) is the B x B block (i, j) of H H^T. Per tile of
/// columns I x J: build H_I and H_J, one GEMM (cuBLAS on CUDA; counts are small integers, exact in float32 up to
/// 2^24 samples), then one group per pair turns its block into MI exactly as <see cref="PluginMi"/> does.
/// Same values as <see cref="PluginMi.AllPairs"/>; which one is faster depends on the GPU (the perf suite times both).
/// </summary>
public static class OneHotGramMi
{
    /// <summary>
    /// MI of every pair, tile by tile. <paramref name="tile"/> = 0 picks the largest tile whose Gram block
    /// (tile*B)^2 floats fits 512 MiB on CUDA, 16 MiB on the CPU accelerator.
    /// </summary>
    public static void AllPairs(MiAccelerator accelerator, BinnedColumns binned, PairTileSink sink, int tile = 0,
        GemmBackend backend = GemmBackend.Auto, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        int bins = binned.Bins, rows = binned.Rows;
        if (rows > 1 << 24) throw new ArgumentException($"one-hot Gram counts are exact in float32 only up to 2^24 samples, found S = {rows}");
        if (tile <= 0)
        {
            double budgetFloats = accelerator.IsCuda ? 1 << 27 : 1 << 22;
            tile = Math.Max(1, (int)(Math.Sqrt(budgetFloats) / bins));
        }
        tile = Math.Min(tile, binned.Columns);
        if ((long)tile * bins * rows > int.MaxValue)
            throw new ArgumentException($"one-hot tile {tile} x {bins} bins x {rows} samples exceeds {int.MaxValue} elements; pass a smaller tile");
        var acc = accelerator.Accelerator;
        using var oneHotI = acc.Allocate1D<float>((long)tile * bins * rows);
        using var oneHotJ = acc.Allocate1D<float>((long)tile * bins * rows);
        using var gram = acc.Allocate1D<float>((long)tile * bins * tile * bins);
        using var output = acc.Allocate1D<float>((long)tile * tile);
        var oneHot = accelerator.Kernel("OneHotGramMi." + nameof(OneHotKernel), a =>
            a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<byte>, ArrayView<float>, int, int, int>(OneHotKernel));
        var blockMi = accelerator.Kernel("OneHotGramMi." + nameof(BlockMiKernel), a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<double>, ArrayView<float>, int, int, int, int, int>(BlockMiKernel));
        var shared = SharedMemoryConfig.RequestDynamic<int>(bins * bins + 2 * bins);
        var host = new float[tile * tile];
        long tilesDone = 0;
        int loadedI = -1;
        foreach (var t in PairTile.UpperTriangle(binned.Columns, tile))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (t.RowStart != loadedI)
            {
                oneHot(t.RowCount * bins * rows, binned.Codes.View, oneHotI.View, t.RowStart, rows, bins);
                loadedI = t.RowStart;
            }
            oneHot(t.ColCount * bins * rows, binned.Codes.View, oneHotJ.View, t.ColStart, rows, bins);
            GemmNT.Multiply(accelerator, oneHotI.View, oneHotJ.View, gram.View, t.RowCount * bins, t.ColCount * bins, rows, 1f, backend);
            int count = t.RowCount * t.ColCount;
            blockMi(new KernelConfig(count, accelerator.GroupSize, shared), gram.View, binned.Constant.View, binned.CLogC.View, output.View,
                t.RowStart, t.ColStart, t.ColCount, rows, bins);
            acc.Synchronize();
            output.View.BaseView.Download(host.AsSpan(0, count));
            sink(t.RowStart, t.ColStart, t.RowCount, t.ColCount, host.AsSpan(0, count));
            progress?.Report(++tilesDone);
        }
    }

    /// <summary>Element (c*B + a) * S + s of H = 1 when code of column colStart+c at sample s is a, else 0.</summary>
    internal static void OneHotKernel(Index1D index, ArrayView<byte> codes, ArrayView<float> oneHot, int colStart, int rows, int bins)
    {
        int row = index / rows;
        int s = index - row * rows;
        int c = row / bins;
        int a = row - c * bins;
        oneHot[index] = codes[(long)(colStart + c) * rows + s] == a ? 1f : 0f;
    }

    /// <summary>Group g = pair (r, c) of the tile: copies block (r, c) of the Gram (row length colCount*B) and computes its MI.</summary>
    internal static void BlockMiKernel(ArrayView<float> gram, ArrayView<int> constant, ArrayView<double> cLogC, ArrayView<float> tile,
        int rowStart, int colStart, int colCount, int rows, int bins)
    {
        int g = Grid.IdxX;
        int r = g / colCount, c = g - r * colCount;
        int i = rowStart + r, j = colStart + c;
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        var counts = SharedMemory.GetDynamic<int>();
        double value = 0;
        if (i != j && constant[i] == 0 && constant[j] == 0)
        {
            long stride = (long)colCount * bins;
            for (int cell = Group.IdxX; cell < bins * bins; cell += Group.DimX)
            {
                int a = cell / bins, b = cell - a * bins;
                counts[cell] = (int)(gram[((long)r * bins + a) * stride + (long)c * bins + b] + 0.5f);
            }
            Group.Barrier();
            value = PluginMi.MiFromCounts(counts, cLogC, rows, bins, scratch, out _);
        }
        if (Group.IdxX == 0) tile[g] = (float)value;
    }
}
