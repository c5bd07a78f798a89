using ILGPU;
using ILGPU.Runtime;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>Host &lt;-&gt; device copies between spans and dense 1D buffers (synchronous on the default stream).</summary>
public static class BufferCopy
{
    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="target"/>.</summary>
    public static void Upload<T>(this MemoryBuffer1D<T, Stride1D.Dense> target, ReadOnlySpan<T> source) where T : unmanaged =>
        target.View.SubView(0, source.Length).BaseView.CopyFromCPU(source);

    /// <summary>Copies the first <c>target.Length</c> elements of <paramref name="source"/> into <paramref name="target"/>.</summary>
    public static void Download<T>(this ArrayView<T> source, Span<T> target) where T : unmanaged =>
        source.SubView(0, target.Length).CopyToCPU(target);
}
