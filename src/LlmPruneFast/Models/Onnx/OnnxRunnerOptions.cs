namespace LlmPruneFast.Models.Onnx;

/// <summary>How an ONNX runner sets up its ONNX Runtime session.</summary>
public sealed record OnnxRunnerOptions
{
    /// <summary>
    /// Threads inside each operator; 0 = one per processor. Results are bit-identical run to run for a fixed thread
    /// count (MLAS splits work by output block, so every sum is taken in the same order).
    /// </summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Append the CUDA execution provider (resolve <c>--device</c> with <see cref="Devices.ComputeDevice"/> first:
    /// here a provider that cannot load is a <see cref="DeviceUnavailableException"/>, never a silent CPU run).
    /// </summary>
    public bool UseCuda { get; init; }

    public int CudaDeviceId { get; init; }

    /// <summary>
    /// In-memory graphs at least this large (bytes) are written with external data to a temporary folder and opened
    /// from there (removed when the runner is disposed). Default: the 2 GB protobuf limit; tests lower it.
    /// </summary>
    public long InMemoryLimitBytes { get; init; } = OnnxModelFile.ProtobufLimitBytes;

    /// <summary>When set, ONNX Runtime writes a per-operator timing profile (JSON) to a file starting with this prefix.</summary>
    public string? ProfilePrefix { get; init; }
}
