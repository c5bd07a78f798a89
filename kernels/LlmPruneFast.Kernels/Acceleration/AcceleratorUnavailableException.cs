namespace LlmPruneFast.Kernels.Acceleration;

/// <summary>
/// The requested accelerator cannot be created (for example CUDA was asked for and no CUDA device or driver is present).
/// The kernels assembly does not reference the engine's error types; the Information layer maps this to its own.
/// </summary>
public sealed class AcceleratorUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
