using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Information;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Gemm;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Writes columns k0..k0+count of A [n x K] into <c>block</c> as rows of length count: block[i * count + q] = A[i, k0 + q].
/// </summary>
public delegate void GramBlockFill(int k0, int count, Span<double> block);

/// <summary>
/// Where the prune path's float64 Gram matrices (covariance, copula correlation, W_down^T W_down) are computed when
/// not on the CPU. Null everywhere means the CPU (OpenBLAS or the managed loops), today's code unchanged; a device
/// is chosen once per prune (<see cref="PruningOptions.Gram"/>, from <c>--device</c>).
/// </summary>
public interface IGramDevice
{
    /// <summary>"cuda", "ilgpu-cpu": for reports.</summary>
    string Name { get; }

    /// <summary>
    /// G = A A^T [n x n] row-major and exactly symmetric (the lower triangle mirrored, as the CPU path does), for
    /// A [n x K] streamed in blocks of columns by <paramref name="fill"/>.
    /// </summary>
    double[] Gram(int n, int k, GramBlockFill fill, CancellationToken ct);
}

/// <summary>
/// <see cref="IGramDevice"/> on an ILGPU accelerator (that of an <see cref="IlgpuMiBackend"/>, so MI estimation and
/// the Gram matrices share one context): blocks of A are uploaded in turn and added into the n x n accumulator with
/// the float64 <see cref="GemmNT64"/> (cuBLAS DGEMM where it loads, else the tiled kernel); the accumulator stays on
/// the device until the last block. Device memory: n^2 + n * block doubles, the block <paramref name="blockElements"/>
/// doubles at most (256 MB by default; tests make it small to exercise the accumulation).
/// </summary>
public sealed class IlgpuGramDevice(IlgpuMiBackend backend, long blockElements = 1L << 25) : IGramDevice
{
    /// <summary>On the CUDA backend (<c>--device cuda</c>, or <c>auto</c> with a usable CUDA device).</summary>
    public static readonly IlgpuGramDevice Cuda = new(IlgpuMiBackend.Cuda);

    private int _calls;

    public string Name => backend.Name;

    /// <summary>How many Gram matrices this device has computed (in this process): reports say "cuda" only when it did.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public double[] Gram(int n, int k, GramBlockFill fill, CancellationToken ct)
    {
        if (n < 1 || k < 1) return new double[(long)Math.Max(n, 0) * Math.Max(n, 0)];
        int block = (int)Math.Clamp(blockElements / n, 1, k);
        var host = new double[(long)n * block];
        double[] g = [];
        backend.Run(acc =>
        {
            using var gram = acc.Accelerator.Allocate1D<double>((long)n * n);
            using var a = acc.Accelerator.Allocate1D<double>((long)n * block);
            gram.MemSetToZero();
            for (int k0 = 0; k0 < k; k0 += block)
            {
                ct.ThrowIfCancellationRequested();
                int b = Math.Min(block, k - k0);
                var span = host.AsSpan(0, n * b);
                fill(k0, b, span);
                a.Upload(span);
                GemmNT64.Multiply(acc, a.View, a.View, gram.View, n, n, b, 1.0, 1.0);
            }
            g = gram.GetAsArray1D();
        });
        Interlocked.Increment(ref _calls);
        DenseMath.MirrorLower(g, n);
        return g;
    }
}
