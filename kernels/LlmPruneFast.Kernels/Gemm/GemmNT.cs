using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.Gemm;

/// <summary>Which implementation <see cref="GemmNT.Multiply"/> uses.</summary>
public enum GemmBackend
{
    /// <summary>cuBLAS on CUDA when libcublas loads, the tiled kernel otherwise.</summary>
    Auto,

    /// <summary>The shared-memory tiled kernel of this class (every accelerator).</summary>
    TiledKernel,

    /// <summary>cuBLAS SGEMM / DGEMM (CUDA only).</summary>
    CuBlas,

    /// <summary>
    /// One thread per element of C, no shared memory and no barriers (<see cref="GemmNT64"/> only): slow on a GPU, but
    /// the fast choice on the ILGPU CPU accelerator, whose group threads are OS threads meeting at every barrier.
    /// </summary>
    DirectKernel,
}

/// <summary>
/// C = alpha * A * B^T in float32 (accumulation in float32), all row-major: A is M x K, B is N x K (so both read
/// along K, contiguous), C is M x N. This is the shape of every Gram matrix here (columns of Z as rows of A and B).
/// The tiled kernel loads T x T tiles of A and B into shared memory and guards every index against M, N and K
/// separately, so any shapes work (ILGPU's sample kernel, which assumes K &lt;= M, does not).
/// </summary>
public static class GemmNT
{
    /// <summary>C[0..M*N) = alpha * A B^T; views must hold at least M*K, N*K and M*N elements.</summary>
    public static void Multiply(MiAccelerator accelerator, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        int m, int n, int k, float alpha = 1f, GemmBackend backend = GemmBackend.Auto)
    {
        if (m < 1 || n < 1 || k < 1) throw new ArgumentOutOfRangeException(nameof(m), $"GEMM sizes must be positive, found M={m} N={n} K={k}");
        if (a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
            throw new ArgumentException($"GEMM views too short for M={m} N={n} K={k}: A {a.Length}, B {b.Length}, C {c.Length}");
        // Auto: cuBLAS when it loads (a CUDA accelerator with the toolkit's libcublas), else the tiled kernel.
        if (backend == GemmBackend.Auto) backend = accelerator.CuBlas != null ? GemmBackend.CuBlas : GemmBackend.TiledKernel;
        if (backend == GemmBackend.DirectKernel) throw new ArgumentException("the direct GEMM kernel is float64 only (GemmNT64)", nameof(backend));
        if (backend == GemmBackend.CuBlas)
        {
            var blas = accelerator.CuBlas ?? throw new AcceleratorUnavailableException(
                $"cuBLAS GEMM needs a CUDA accelerator with cuBLAS ({accelerator.CuBlasUnavailableReason ?? "this is the CPU accelerator"})");
            // cuBLAS is column-major: row-major C (M x N) is column-major C^T (N x M) = B (N x K) * A^T, where row-major
            // B is column-major B^T (K x N, ld K), hence op(B^T) = Transpose, and row-major A is column-major A^T (K x M).
            accelerator.Accelerator.Synchronize();
            blas.Gemm(CuBlasOperation.Transpose, CuBlasOperation.NonTranspose, n, m, k,
                alpha, b.SubView(0, (long)n * k), k, a.SubView(0, (long)m * k), k, 0f, c.SubView(0, (long)m * n), n);
            accelerator.Accelerator.Synchronize();
            return;
        }
        int t = accelerator.GemmTile;
        var kernel = accelerator.Kernel("GemmNT." + nameof(TiledKernel), acc =>
            acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>(TiledKernel));
        var config = new KernelConfig(new Index2D((n + t - 1) / t, (m + t - 1) / t), new Index2D(t, t), SharedMemoryConfig.RequestDynamic<float>(2 * t * t));
        kernel(config, a, b, c, m, n, k, alpha);
        accelerator.Accelerator.Synchronize();
    }

    /// <summary>
    /// Group (Grid.IdxX, Grid.IdxY) computes the T x T tile of C at rows Grid.IdxY*T.., columns Grid.IdxX*T..;
    /// thread (x, y) owns C[row = ..+y, col = ..+x]. Shared memory: A tile then B tile, T*T floats each.
    /// </summary>
    internal static void TiledKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, float alpha)
    {
        int t = Group.DimX;
        var tiles = SharedMemory.GetDynamic<float>();
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * t + ty;   // row of C and of A
        int col = Grid.IdxX * t + tx;   // column of C = row of B
        int bRow = Grid.IdxX * t + ty;  // row of B this thread loads into the B tile
        float sum = 0;
        for (int k0 = 0; k0 < k; k0 += t)
        {
            int kk = k0 + tx;
            tiles[ty * t + tx] = row < m && kk < k ? a[(long)row * k + kk] : 0f;
            tiles[t * t + ty * t + tx] = bRow < n && kk < k ? b[(long)bRow * k + kk] : 0f;
            Group.Barrier();
            for (int q = 0; q < t; q++) sum += tiles[ty * t + q] * tiles[t * t + tx * t + q];
            Group.Barrier();
        }
        if (row < m && col < n) c[(long)row * n + col] = alpha * sum;
    }
}
