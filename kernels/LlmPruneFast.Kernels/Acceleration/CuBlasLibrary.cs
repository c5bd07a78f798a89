using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace LlmPruneFast.Kernels.Acceleration;

/// <summary>
/// Lets ILGPU.Algorithms 1.5 find cuBLAS from CUDA 13. Its bindings name the CUDA 10-12 libraries
/// (<c>libcublas.so.12</c>, <c>cublas64_12</c>), while CUDA 13 machines (the H100/H200 images with PyTorch cu130,
/// the same toolkit ONNX Runtime GPU 1.31 needs) ship <c>libcublas.so.13</c>. The v2 entry points ILGPU binds
/// (cublasCreate_v2, cublasSetStream_v2, cublas[SD]gemm_v2, ...) keep their signatures in 13, so when the named
/// library is missing the newest one present is loaded instead. The device check's kernels-verify compares every
/// cuBLAS result with a plain reference, which is what catches an incompatible library.
/// </summary>
internal static class CuBlasLibrary
{
    private static int _installed;

    /// <summary>Newer names tried, in order, when ILGPU's own name does not load.</summary>
    internal static readonly string[] Fallbacks = OperatingSystem.IsWindows() ? ["cublas64_13"] : ["libcublas.so.13", "libcublas.so"];

    /// <summary>Installs the fallback once per process (before the first cuBLAS handle).</summary>
    public static void EnsureFallback()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 0) AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
    }

    private static IntPtr Resolve(Assembly assembly, string name)
    {
        // Only cuBLAS itself: cublasLt is loaded by libcublas through its own run path.
        if (!name.Contains("cublas", StringComparison.OrdinalIgnoreCase) || name.Contains("cublasLt", StringComparison.OrdinalIgnoreCase)) return IntPtr.Zero;
        foreach (var candidate in Fallbacks)
            if (candidate != name && NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        return IntPtr.Zero;
    }
}
