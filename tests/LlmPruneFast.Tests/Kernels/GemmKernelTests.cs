using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Kernels.Columns;
using LlmPruneFast.Kernels.Gemm;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>C = alpha A B^T (+ beta C in float64) against the float64 reference over shapes that break naive tilings (K &gt; M, 1 x 1, non-multiples of the tile).</summary>
public abstract class GemmKernelTests
{
    protected abstract MiAcceleratorKind Kind { get; }
    private MiAccelerator Accelerator => TestAccelerators.Get(Kind);

    public static readonly (int M, int N, int K)[] Shapes = [(1, 1, 1), (2, 2, 6), (2, 3, 17), (6, 2, 2), (5, 3, 17), (33, 7, 9), (16, 16, 16), (17, 31, 65)];

    protected void CheckShapes(GemmBackend backend)
    {
        var random = new Random(5);
        foreach (var (m, n, k) in Shapes)
        {
            var a = Enumerable.Range(0, m * k).Select(_ => (float)TestMatrices.Gaussian(random)).ToArray();
            var b = Enumerable.Range(0, n * k).Select(_ => (float)TestMatrices.Gaussian(random)).ToArray();
            using var da = Accelerator.Accelerator.Allocate1D<float>(a.Length);
            using var db = Accelerator.Accelerator.Allocate1D<float>(b.Length);
            using var dc = Accelerator.Accelerator.Allocate1D<float>(m * n + 3);
            da.Upload(a);
            db.Upload(b);
            dc.MemSetToZero();
            GemmNT.Multiply(Accelerator, da.View, db.View, dc.View, m, n, k, 0.5f, backend);
            var c = dc.GetAsArray1D();
            var expected = GemmNTReference.Multiply(a, b, m, n, k, 0.5);
            for (int i = 0; i < m * n; i++)
                Assert.True(Math.Abs(c[i] - expected[i]) <= 1e-5 * (1 + Math.Sqrt(k)), $"M={m} N={n} K={k} element {i}: {c[i]} vs {expected[i]}");
            Assert.Equal(0f, c[m * n]); // nothing written past C
        }
    }

    /// <summary>The float64 GEMM with beta = 0 (C not read: it starts as NaN) and beta = 1 (accumulation).</summary>
    protected void CheckShapes64(GemmBackend backend)
    {
        var random = new Random(6);
        foreach (var (m, n, k) in Shapes)
            foreach (double beta in new[] { 0.0, 1.0 })
            {
                var a = Enumerable.Range(0, m * k).Select(_ => TestMatrices.Gaussian(random)).ToArray();
                var b = Enumerable.Range(0, n * k).Select(_ => TestMatrices.Gaussian(random)).ToArray();
                var c0 = Enumerable.Range(0, m * n).Select(_ => beta == 0 ? double.NaN : TestMatrices.Gaussian(random)).Append(7.0).ToArray();
                using var da = Accelerator.Accelerator.Allocate1D(a);
                using var db = Accelerator.Accelerator.Allocate1D(b);
                using var dc = Accelerator.Accelerator.Allocate1D(c0);
                GemmNT64.Multiply(Accelerator, da.View, db.View, dc.View, m, n, k, 0.5, beta, backend);
                var c = dc.GetAsArray1D();
                var expected = GemmNT64Reference.Multiply(a, b, c0, m, n, k, 0.5, beta);
                for (int i = 0; i < m * n; i++)
                    Assert.True(Math.Abs(c[i] - expected[i]) <= 1e-13 * (1 + Math.Abs(expected[i]) + k), $"M={m} N={n} K={k} beta={beta} element {i}: {c[i]} vs {expected[i]}");
                Assert.Equal(7.0, c[m * n]); // nothing written past C
            }
    }
}

[Collection(KernelCollection.Name)]
public sealed class GemmKernelTestsOnCpuAccelerator : GemmKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cpu;
    [Fact] public void TiledKernel_AwkwardShapes() => CheckShapes(GemmBackend.TiledKernel);
    [Fact] public void CuBlas_RejectedWithoutCuda() => Assert.Throws<AcceleratorUnavailableException>(() => CheckShapes(GemmBackend.CuBlas));
    [Fact] public void TiledKernel64_AwkwardShapes() => CheckShapes64(GemmBackend.TiledKernel);
    [Fact] public void DirectKernel64_AwkwardShapes() => CheckShapes64(GemmBackend.DirectKernel);
    [Fact] public void DirectKernel_Float32Rejected() => Assert.Throws<ArgumentException>(() => CheckShapes(GemmBackend.DirectKernel));
    [Fact] public void CuBlas64_RejectedWithoutCuda() => Assert.Throws<AcceleratorUnavailableException>(() => CheckShapes64(GemmBackend.CuBlas));
}

[Collection(KernelCollection.Name)]
public sealed class GemmKernelTestsOnCuda : GemmKernelTests
{
    protected override MiAcceleratorKind Kind => MiAcceleratorKind.Cuda;
    [CudaFact] public void TiledKernel_AwkwardShapes() => CheckShapes(GemmBackend.TiledKernel);
    [CudaFact] public void CuBlas_AwkwardShapes() => CheckShapes(GemmBackend.CuBlas);
    [CudaFact] public void TiledKernel64_AwkwardShapes() => CheckShapes64(GemmBackend.TiledKernel);
    [CudaFact] public void DirectKernel64_AwkwardShapes() => CheckShapes64(GemmBackend.DirectKernel);
    [CudaFact] public void CuBlas64_AwkwardShapes() => CheckShapes64(GemmBackend.CuBlas);
}
