using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.Gemm;

/// <summary>
/// The float64 counterpart of <see cref="GemmNT"/>, with accumulation: C = alpha * A * B^T + beta * C, all row-major,
/// A is M x K, B is N x K, C is M x N (beta = 1 adds a block of K into C, which is how the prune path's Gram
/// matrices stream their rows). Auto: cuBLAS DGEMM when it loads, else on CUDA a tiled kernel like
/// <see cref="GemmNT"/>'s (a separate kernel: ILGPU kernels cannot be generic over the element type's arithmetic),
/// and on the ILGPU CPU accelerator the direct kernel (<see cref="GemmBackend.DirectKernel"/>).
/// </summary>
public static class GemmNT64
{
    /// <summary>C[0..M*N) = alpha * A B^T + beta * C; views must hold at least M*K, N*K and M*N elements.
    /// With beta = 0, C is not read (so it may hold anything).</summary>
    public static void Multiply(MiAccelerator accelerator, ArrayView<double> a, ArrayView<double> b, ArrayView<double> c,
        int m, int n, int k, double alpha = 1, double beta = 0, GemmBackend backend = GemmBackend.Auto)
    {
        if (m < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be positive, found M={m} N={n} K={k}");
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
            throw new ArgumentException($"GEMM views too short for M={m} N={n} K={k}: A {a.Length}, B {b.Length}, C {c.Length}");
        if (backend == GemmBackend.Auto)
            backend = accelerator.CuBlas != null ? GemmBackend.CuBlas : accelerator.IsCuda ? GemmBackend.TiledKernel : GemmBackend.DirectKernel;
        if (backend == GemmBackend.DirectKernel)
        {
            var direct = accelerator.Kernel("GemmNT64." + nameof(DirectKernel), acc =>
                acc.LoadAutoGroupedStreamKernel<Index2D, ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, double, double>(DirectKernel));
            direct(new Index2D(m, n), a, b, c, n, k, alpha, beta);
            accelerator.Accelerator.Synchronize();
            return;
        }
        if (backend == GemmBackend.CuBlas)
        {
            var blas = accelerator.CuBlas ?? throw new AcceleratorUnavailableException(
                $"cuBLAS GEMM needs a CUDA accelerator with cuBLAS ({accelerator.CuBlasUnavailableReason ?? "this is the CPU accelerator"})");
            // The same transposition as GemmNT's SGEMM: row-major C (M x N) is column-major C^T = B A^T.
            accelerator.Accelerator.Synchronize();
            blas.Gemm(CuBlasOperation.Transpose, CuBlasOperation.NonTranspose, n, m, k,
                alpha, b.SubView(0, (long)n * k), k, a.SubView(0, (long)m * k), k, beta, c.SubView(0, (long)m * n), n);
            accelerator.Accelerator.Synchronize();
            return;
        }
        int t = accelerator.GemmTile;
        var kernel = accelerator.Kernel("GemmNT64." + nameof(TiledKernel), acc =>
            acc.LoadStreamKernel<ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int, double, double>(TiledKernel));
        var config = new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(t, t), SharedMemoryConfig.RequestDynamic<double>(2 * t * t));
        kernel(config, a, b, c, m, n, k, alpha, beta);
        accelerator.Accelerator.Synchronize();
    }

    /// <summary>Thread (i, j) computes C[i, j] alone.</summary>
    internal static void DirectKernel(Index2D index, ArrayView<double> a, ArrayView<double> b, ArrayView<double> c, int n, int k, double alpha, double beta)
    {
        long row = (long)index.X * k, col = (long)index.Y * k;
        double sum = 0;
        for (int q = 0; q < k; q++) sum += a[row + q] * b[col + q];
        long at = (long)index.X * n + index.Y;
        c[at] = beta == 0 ? alpha * sum : alpha * sum + beta * c[at];
    }

    /// <summary><see cref="GemmNT"/>'s tiled kernel in float64, plus beta * C.</summary>
    internal static void TiledKernel(ArrayView<double> a, ArrayView<double> b, ArrayView<double> c, int m, int n, int k, double alpha, double beta)
    {
        int t = Group.DimX;
        var tiles = SharedMemory.GetDynamic<double>();
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * t + ty;
        int col = Grid.IdxX * t + tx;
        int bRow = Grid.IdxX * t + ty;
        double sum = 0;
        for (int k0 = 0; k0 < k; k0 += t)
        {
            int kk = k0 + tx;
            tiles[ty * t + tx] = row < m && kk < k ? a[(long)row * k + kk] : 0.0;
            tiles[t * t + ty * t + tx] = bRow < n && kk < k ? b[(long)bRow * k + kk] : 0.0;
            Group.Barrier();
            for (int q = 0; q < t; q++) sum += tiles[ty * t + q] * tiles[t * t + tx * t + q];
            Group.Barrier();
        }
        if (row < m && col < n)
        {
            long at = (long)row * n + col;
            c[at] = beta == 0 ? alpha * sum : alpha * sum + beta * c[at];
        }
    }
}
