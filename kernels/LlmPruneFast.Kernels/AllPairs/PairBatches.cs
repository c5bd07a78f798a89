using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.AllPairs;

/// <summary>
/// Runs a pair-list kernel over a host pair list in bounded batches: uploads (i, j) as interleaved ints, launches,
/// downloads one double per pair. Validates indices, honours cancellation and reports pairs done between batches.
/// </summary>
internal static class PairBatches
{
    /// <summary>Pairs per launch: bounds device memory (12 bytes per pair) and the latency of cancellation.</summary>
    public const int BatchSize = 1 << 18;

    /// <summary>Launch(pairsView, resultView, count) must fill resultView[0..count) for pairsView[0..2*count).</summary>
    public delegate void Launch(ArrayView<int> pairs, ArrayView<double> result, int count);

    public static void Run(MiAccelerator accelerator, int columns, ReadOnlySpan<(int I, int J)> pairs, Span<double> result,
        Launch launch, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        if (result.Length < pairs.Length) throw new ArgumentException($"result holds {result.Length} values, need {pairs.Length}", nameof(result));
        foreach (var (i, j) in pairs)
            if ((uint)i >= (uint)columns || (uint)j >= (uint)columns)
                throw new ArgumentOutOfRangeException(nameof(pairs), $"pair ({i}, {j}) out of range [0, {columns})");
        if (pairs.IsEmpty) return;
        int batch = Math.Min(BatchSize, pairs.Length);
        using var pairBuffer = accelerator.Accelerator.Allocate1D<int>(2L * batch);
        using var resultBuffer = accelerator.Accelerator.Allocate1D<double>(batch);
        for (int start = 0; start < pairs.Length; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int count = Math.Min(batch, pairs.Length - start);
            var flat = MemoryMarshal.Cast<(int, int), int>(pairs.Slice(start, count));
            pairBuffer.View.SubView(0, flat.Length).BaseView.CopyFromCPU(flat);
            launch(pairBuffer.View.SubView(0, flat.Length), resultBuffer.View.SubView(0, count), count);
            accelerator.Accelerator.Synchronize();
            resultBuffer.View.SubView(0, count).BaseView.CopyToCPU(result.Slice(start, count));
            progress?.Report(start + count);
        }
    }
}
