namespace LlmPruneFast.Kernels;

/// <summary>Marker for the kernels assembly.</summary>
public static class KernelsAssembly { }
