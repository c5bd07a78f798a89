using System.Text.Json;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Plugin;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>Ranks, equal-frequency binning and plug-in MI kernels against their plain references.</summary>
public abstract class PluginKernelTests
{
    protected abstract MiAcceleratorKind Kind { get; }
    private MiAccelerator Accelerator => TestAccelerators.Get(Kind);

    protected void CheckRanksAndCodes(int rows, int columns, int bins)
    {
        var z = TestMatrices.Make(rows, columns, seed: rows * 31 + columns);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        using (var ranks = ColumnRanks.Compute(Accelerator, device))
            Assert.Equal(ColumnRanksReference.Compute(z, rows, columns), ranks.GetAsArray1D());
        using var binned = BinnedColumns.Create(Accelerator, device, bins);
        Assert.Equal(PluginMiReference.Codes(z, rows, columns, bins), binned.Codes.GetAsArray1D());
    }

    protected void CheckRowMajorUpload()
    {
        const int rows = 37, columns = 5;
        var z = TestMatrices.Make(rows, columns, 1);
        var rowMajor = new float[z.Length];
        for (int c = 0; c < columns; c++)
            for (int s = 0; s < rows; s++) rowMajor[s * columns + c] = z[c * rows + s];
        using var device = DeviceColumns.FromRowMajor(Accelerator, rowMajor, rows, columns);
        Assert.Equal(z, device.ToHost());
    }

    protected void CheckPairList(int rows, int columns, int bins)
    {
        var z = TestMatrices.Make(rows, columns, seed: rows + bins);
        var pairs = TestMatrices.Pairs(columns);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        using var binned = BinnedColumns.Create(Accelerator, device, bins);
        var mi = new double[pairs.Length];
        var cells = new int[pairs.Length];
        PluginMi.PairList(Accelerator, binned, pairs, mi, cells);
        var codes = PluginMiReference.Codes(z, rows, columns, bins);
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            double expected = PluginMiReference.Pair(z, rows, columns, bins, i, j);
            Assert.True(Math.Abs(mi[p] - expected) <= 1e-12, $"pair ({i},{j}): kernel {mi[p]:R} reference {expected:R}");
            bool constant = PluginMiReference.IsConstant(z.AsSpan(i * rows, rows)) || PluginMiReference.IsConstant(z.AsSpan(j * rows, rows));
            PluginMiReference.FromCodes(codes.AsSpan(i * rows, rows), codes.AsSpan(j * rows, rows), bins, out int expectedCells);
            Assert.Equal(constant ? 0 : expectedCells, cells[p]);
        }
    }

    protected void CheckAllPairs(int rows, int columns, int bins, int tile, bool oneHotGram = false)
    {
        var z = TestMatrices.Make(rows, columns, seed: 7 * rows + columns);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, columns);
        using var binned = BinnedColumns.Create(Accelerator, device, bins);
        var collector = new DenseTileCollector(columns);
        int tiles = 0;
        PairTileSink sink = (r0, c0, rc, cc, t) => { Assert.True(c0 >= r0); tiles++; collector.Sink(r0, c0, rc, cc, t); };
        if (oneHotGram) OneHotGramMi.AllPairs(Accelerator, binned, sink, tile);
        else PluginMi.AllPairs(Accelerator, binned, sink, tile);
        Assert.Equal(PairTile.Count(columns, Math.Min(tile, columns)), tiles);
        for (int i = 0; i < columns; i++)
            for (int j = 0; j < columns; j++)
            {
                double expected = i == j ? 0 : PluginMiReference.Pair(z, rows, columns, bins, i, j);
                Assert.True(Math.Abs(collector.Matrix[i * columns + j] - expected) <= 1e-6 * (1 + expected), $"({i},{j}) {collector.Matrix[i * columns + j]} vs {expected}");
            }
    }

    protected void CheckSharedReference()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.MiReferenceDir, "mi_reference.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var z = TestMatrices.ReadReferencePair(Path.Combine(SharedData.MiReferenceDir, c.GetProperty("file").GetString()!), out int rows);
            using var device = DeviceColumns.FromColumnMajor(Accelerator, z, rows, 2);
            foreach (var b in c.GetProperty("plugin_quantile_bins_nats_by_bins").EnumerateObject())
            {
                using var binned = BinnedColumns.Create(Accelerator, device, int.Parse(b.Name));
                var mi = new double[1];
                PluginMi.PairList(Accelerator, binned, [(0, 1)], mi);
                Assert.True(Math.Abs(mi[0] - b.Value.GetDouble()) <= 1e-9, $"{c.GetProperty("name")} B={b.Name}: {mi[0]:R} vs {b.Value.GetDouble():R}");
            }
        }
    }

    protected void CheckRejectsBadArguments()
    {
        var z = TestMatrices.Make(10, 2, 3);
        using var device = DeviceColumns.FromColumnMajor(Accelerator, z, 10, 2);
        Assert.Throws<ArgumentException>(() => BinnedColumns.Create(Accelerator, device, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => BinnedColumns.Create(Accelerator, device, 1));
        using var binned = BinnedColumns.Create(Accelerator, device, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => PluginMi.PairList(Accelerator, binned, [(0, 2)], new double[1]));
        Assert.Throws<ArgumentException>(() => DeviceColumns.FromColumnMajor(Accelerator, z, 7, 2));
    }
}

[Collection(KernelCollection.Name)]
public sealed class PluginKernelTestsOnCpuAccelerator : PluginKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cpu;
    [Fact] public void RanksAndCodes_TinyAndOddShapes() { CheckRanksAndCodes(2, 1, 2); CheckRanksAndCodes(3, 2, 2); CheckRanksAndCodes(37, 3, 4); CheckRanksAndCodes(301, 7, 16); }
    [Fact] public void RowMajorUpload_Transposes() => CheckRowMajorUpload();
    [Fact] public void PairList_MatchesReference() { CheckPairList(2, 1, 2); CheckPairList(37, 3, 4); CheckPairList(300, 8, 16); CheckPairList(257, 6, 33); }
    [Fact] public void AllPairs_MatchesReference_NonDividingTiles() { CheckAllPairs(50, 1, 4, 8); CheckAllPairs(50, 2, 4, 8); CheckAllPairs(123, 11, 8, 4); CheckAllPairs(64, 9, 16, 100); }
    [Fact] public void OneHotGramAllPairs_MatchesReference() { CheckAllPairs(50, 1, 4, 8, true); CheckAllPairs(61, 7, 4, 3, true); CheckAllPairs(40, 6, 8, 100, true); }
    [SharedFact] public void PairList_MatchesSharedReference() => CheckSharedReference();
    [Fact] public void RejectsBadArguments() => CheckRejectsBadArguments();
}

[Collection(KernelCollection.Name)]
public sealed class PluginKernelTestsOnCuda : PluginKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cuda;
    [CudaFact] public void RanksAndCodes_TinyAndOddShapes() { CheckRanksAndCodes(2, 1, 2); CheckRanksAndCodes(3, 2, 2); CheckRanksAndCodes(37, 3, 4); CheckRanksAndCodes(301, 7, 16); }
    [CudaFact] public void RowMajorUpload_Transposes() => CheckRowMajorUpload();
    [CudaFact] public void PairList_MatchesReference() { CheckPairList(2, 1, 2); CheckPairList(37, 3, 4); CheckPairList(300, 8, 16); CheckPairList(257, 6, 33); }
    [CudaFact] public void AllPairs_MatchesReference_NonDividingTiles() { CheckAllPairs(50, 1, 4, 8); CheckAllPairs(50, 2, 4, 8); CheckAllPairs(123, 11, 8, 4); CheckAllPairs(64, 9, 16, 100); }
    [CudaFact] public void OneHotGramAllPairs_MatchesReference() { CheckAllPairs(50, 1, 4, 8, true); CheckAllPairs(61, 7, 4, 3, true); CheckAllPairs(40, 6, 8, 100, true); }
    [CudaFact] public void PairList_MatchesSharedReference() { if (SharedData.Root != null) CheckSharedReference(); }
    [CudaFact] public void RejectsBadArguments() => CheckRejectsBadArguments();
}
