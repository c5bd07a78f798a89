using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.AllPairs;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Gemm;

namespace LlmPruneFast.Kernels.Copula;

/// <summary>
/// Gaussian-copula MI (nats): each column becomes standardised normal scores by its 0-based stable rank,
/// z(s) = table[rank(s)] with the table of <see cref="NormalQuantile.StandardisedScores"/>; r_ij = z_i . z_j / S
/// (a correlation, since each z has mean 0 and variance 1); I = -1/2 ln(1 - r^2). A constant column has MI 0
/// (its scores are set to 0). All pairs are one GEMM per tile (cuBLAS on CUDA); r is float32 there, and
/// 1 - r^2 is floored at <see cref="MinOneMinusRSquared"/> so |r| rounding to 1 gives a finite cap (about 8.06 nats).
/// </summary>
public static class GaussianCopula
{
    /// <summary>Floor of 1 - r^2: caps I at -1/2 ln(1e-7), about 8.06 nats.</summary>
    public const double MinOneMinusRSquared = 1e-7;

    /// <summary>The standardised normal scores [N x S] (float32) of every column; made once per matrix.</summary>
    public sealed class Scores : IDisposable
    {
        public int Rows { get; }
        public int Columns { get; }
        public MemoryBuffer1D<float, Stride1D.Dense> Values { get; }

        private Scores(int rows, int columns, MemoryBuffer1D<float, Stride1D.Dense> values)
        {
            Rows = rows;
            Columns = columns;
            Values = values;
        }

        public static Scores Create(MiAccelerator accelerator, DeviceColumns z)
        {
            var table = NormalQuantile.StandardisedScores(z.Rows);
            using var stats = ColumnStatistics.Compute(accelerator, z);
            using var ranks = ColumnRanks.Compute(accelerator, z);
            using var tableBuffer = accelerator.Accelerator.Allocate1D<float>(z.Rows);
            tableBuffer.Upload(Array.ConvertAll(table, v => (float)v));
            var values = accelerator.Accelerator.Allocate1D<float>(ranks.Length);
            var kernel = accelerator.Kernel("GaussianCopula." + nameof(ScoreKernel), a =>
                a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(ScoreKernel));
            kernel(values.IntExtent, ranks.View, tableBuffer.View, stats.Constant.View, values.View, z.Rows);
            accelerator.Accelerator.Synchronize();
            return new Scores(z.Rows, z.Columns, values);
        }

        public void Dispose() => Values.Dispose();
    }

    /// <summary>MI of each listed pair (float64 dot products of the float32 scores).</summary>
    public static void PairList(MiAccelerator accelerator, Scores scores, ReadOnlySpan<(int I, int J)> pairs, Span<double> mi,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var kernel = accelerator.Kernel("GaussianCopula." + nameof(PairKernel), a =>
            a.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<double>, int>(PairKernel));
        PairBatches.Run(accelerator, scores.Columns, pairs, mi, (pairView, resultView, count) =>
            kernel(new KernelConfig(count, accelerator.GroupSize), scores.Values.View, pairView, resultView, scores.Rows),
            progress, cancellationToken);
        for (int p = 0; p < pairs.Length; p++) mi[p] = FromCorrelation(mi[p]);
    }

    /// <summary>
    /// MI of every pair, tile by tile (tile 0 picks 4096 on CUDA, 256 on the CPU accelerator): per tile one GEMM
    /// R = Z_I Z_J^T / S and one transform to MI; diagonal 0.
    /// </summary>
    public static void AllPairs(MiAccelerator accelerator, Scores scores, PairTileSink sink, int tile = 0,
        GemmBackend backend = GemmBackend.Auto, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (tile <= 0) tile = accelerator.IsCuda ? 4096 : 256;
        tile = Math.Min(tile, scores.Columns);
        int rows = scores.Rows;
        using var output = accelerator.Accelerator.Allocate1D<float>((long)tile * tile);
        var transform = accelerator.Kernel("GaussianCopula." + nameof(MiKernel), a =>
            a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, int, int>(MiKernel));
        var host = new float[tile * tile];
        long tilesDone = 0;
        foreach (var t in PairTile.UpperTriangle(scores.Columns, tile))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var a = scores.Values.View.SubView((long)t.RowStart * rows, (long)t.RowCount * rows);
            var b = scores.Values.View.SubView((long)t.ColStart * rows, (long)t.ColCount * rows);
            GemmNT.Multiply(accelerator, a, b, output.View, t.RowCount, t.ColCount, rows, 1f / rows, backend);
            int count = t.RowCount * t.ColCount;
            transform(count, output.View, t.RowStart, t.ColStart, t.ColCount);
            accelerator.Accelerator.Synchronize();
            output.View.BaseView.Download(host.AsSpan(0, count));
            sink(t.RowStart, t.ColStart, t.RowCount, t.ColCount, host.AsSpan(0, count));
            progress?.Report(++tilesDone);
        }
    }

    /// <summary>score = table[rank], or 0 in a constant column.</summary>
    internal static void ScoreKernel(Index1D index, ArrayView<int> ranks, ArrayView<float> table, ArrayView<int> constant, ArrayView<float> scores, int rows) =>
        scores[index] = constant[index / rows] != 0 ? 0f : table[ranks[index]];

    /// <summary>
    /// In place over a tile: r -> -1/2 ln(max(1 - r^2, floor)) in float32 (the tile is float32 anyway; float log is
    /// native on every accelerator), 0 on the diagonal.
    /// </summary>
    internal static void MiKernel(Index1D index, ArrayView<float> tile, int rowStart, int colStart, int colCount)
    {
        int row = index / colCount;
        int i = rowStart + row, j = colStart + (index - row * colCount);
        float r = tile[index];
        float q = 1f - r * r;
        tile[index] = i == j ? 0f : -0.5f * ILGPU.Algorithms.XMath.Log(q > (float)MinOneMinusRSquared ? q : (float)MinOneMinusRSquared);
    }

    /// <summary>Group = pair: r = sum_s z_i(s) z_j(s) / S in float64 (the host turns it into MI).</summary>
    internal static void PairKernel(ArrayView<float> scores, ArrayView<int> pairs, ArrayView<double> mi, int rows)
    {
        int g = Grid.IdxX;
        int i = pairs[2 * g], j = pairs[2 * g + 1];
        var scratch = SharedMemory.Allocate<double>(DeviceReduce.MaxGroupSize);
        long a0 = (long)i * rows, b0 = (long)j * rows;
        double sum = 0;
        for (int s = Group.IdxX; s < rows; s += Group.DimX) sum += (double)scores[a0 + s] * scores[b0 + s];
        double r = DeviceReduce.GroupSum(scratch, sum) / rows;
        if (Group.IdxX == 0) mi[g] = r;
    }

    /// <summary>-1/2 ln(max(1 - r^2, <see cref="MinOneMinusRSquared"/>)) with r clamped to [-1, 1].</summary>
    public static double FromCorrelation(double r)
    {
        double q = 1 - r * r;
        return -0.5 * Math.Log(q > MinOneMinusRSquared ? q : MinOneMinusRSquared);
    }
}
