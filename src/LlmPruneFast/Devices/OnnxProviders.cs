using Microsoft.ML.OnnxRuntime;

namespace LlmPruneFast.Devices;

/// <summary>The one place ONNX Runtime sessions get an execution provider other than the CPU's.</summary>
public static class OnnxProviders
{
    /// <summary>
    /// Appends the CUDA execution provider on device <paramref name="deviceId"/> with TF32 off, so float32 matrix
    /// products keep their 24-bit mantissa as on the CPU (TF32 would round inputs to 10 bits, enough to move
    /// activations and so plans). Failures become <see cref="DeviceUnavailableException"/> naming what is missing.
    /// </summary>
    public static void AppendCuda(SessionOptions options, int deviceId = 0)
    {
        try
        {
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(new Dictionary<string, string>
            {
                ["device_id"] = deviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["use_tf32"] = "0",
            });
            options.AppendExecutionProvider_CUDA(cuda);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DeviceUnavailableException($"ONNX Runtime's CUDA provider is not usable: {CudaProbe.Explain(e.Message)}", e);
        }
    }

    /// <summary>
    /// The options every engine session starts from: sequential execution, all graph optimisations,
    /// <paramref name="threads"/> intra-op threads (0 = one per processor), one inter-op thread. Providers are added by
    /// <see cref="Configure"/>.
    /// </summary>
    public static SessionOptions NewOptions(int threads) => new()
    {
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        IntraOpNumThreads = threads > 0 ? threads : Environment.ProcessorCount,
        InterOpNumThreads = 1,
    };

    /// <summary>Appends CUDA when <paramref name="cuda"/>; returns the providers in priority order, for logs and reports.</summary>
    public static IReadOnlyList<string> Configure(SessionOptions options, bool cuda, int deviceId = 0)
    {
        if (!cuda) return ["CPUExecutionProvider"];
        AppendCuda(options, deviceId);
        return ["CUDAExecutionProvider", "CPUExecutionProvider"];
    }
}
