namespace LlmPruneFast.Kernels.Acceleration;

/// <summary>Which ILGPU accelerator runs the MI kernels.</summary>
public enum MiAcceleratorKind
{
    /// <summary>CUDA when a CUDA device is present, otherwise the ILGPU CPU accelerator.</summary>
    Auto,

    /// <summary>The ILGPU CPU accelerator (multi-threaded emulation of the GPU programming model).</summary>
    Cpu,

    /// <summary>The first CUDA device; <see cref="MiAccelerator.Create"/> throws <see cref="AcceleratorUnavailableException"/> without one.</summary>
    Cuda,
}
