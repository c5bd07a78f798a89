namespace LlmPruneFast.Information;

/// <summary>Where MI is computed: <c>--device auto|cpu|cuda</c>.</summary>
public enum MiDevice { Auto, Cpu, Cuda }

/// <summary>
/// An implementation of the estimators on one kind of hardware. The CPU backend is built in; an accelerator backend
/// (ILGPU, kernels/LlmPruneFast.Kernels) registers itself with <see cref="MiBackends.Register"/> and returns its own
/// <see cref="IMutualInformationEstimator"/>s, which must give the CPU values within the tolerance it documents.
/// Since the library references the kernels assembly (not the reverse), the accelerator backend class lives in the
/// library (Information/) and launches the kernels; it can read <see cref="ActivationMatrix"/>'s column-major buffer
/// directly (internal RawArray) and reuse the CPU estimators' column preparation if it wishes.
/// </summary>
public interface IMiBackend
{
    /// <summary>"cpu", "cuda", ...</summary>
    string Name { get; }

    MiDevice Device { get; }

    /// <summary>True when the hardware is present and usable now (e.g. a CUDA device was found).</summary>
    bool IsAvailable { get; }

    /// <summary>True when this backend implements the named estimator with these options.</summary>
    bool Supports(string estimator, MiEstimatorOptions options);

    /// <summary>An estimator on this backend; may throw <see cref="BadArgumentException"/> like <see cref="MiEstimators.Create"/>.</summary>
    IMutualInformationEstimator Create(string estimator, MiEstimatorOptions options);
}

/// <summary>The built-in backend: <see cref="MiEstimators.Create"/> (SIMD, all cores).</summary>
public sealed class CpuMiBackend : IMiBackend
{
    public static readonly CpuMiBackend Instance = new();
    public string Name => "cpu";
    public MiDevice Device => MiDevice.Cpu;
    public bool IsAvailable => true;
    public bool Supports(string estimator, MiEstimatorOptions options) => MiEstimators.Names.Contains(estimator.Trim().ToLowerInvariant());
    public IMutualInformationEstimator Create(string estimator, MiEstimatorOptions options) => MiEstimators.Create(estimator, options);
}

/// <summary>
/// Backend selection. <c>cpu</c>: the CPU backend. <c>cuda</c>: a registered, available CUDA backend, else
/// <see cref="BadArgumentException"/> saying none is present. <c>auto</c>: CUDA when a registered CUDA backend is
/// available and supports the estimator, else CPU.
/// </summary>
public static class MiBackends
{
    private static readonly List<IMiBackend> Registered = [];

    // The ILGPU kernels (kernels/LlmPruneFast.Kernels) are the CUDA backend; registering probes nothing.
    static MiBackends() => Register(IlgpuMiBackend.Cuda);

    /// <summary>Adds an accelerator backend (called once by the kernels integration at start-up).</summary>
    public static void Register(IMiBackend backend)
    {
        lock (Registered)
        {
            Registered.RemoveAll(b => b.Name == backend.Name);
            Registered.Add(backend);
        }
    }

    /// <summary>Parses "auto", "cpu" or "cuda".</summary>
    public static MiDevice ParseDevice(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => MiDevice.Auto,
        "cpu" => MiDevice.Cpu,
        "cuda" => MiDevice.Cuda,
        _ => throw new BadArgumentException($"--device '{text}' is not auto, cpu or cuda"),
    };

    public static IMiBackend Resolve(MiDevice device, string estimator, MiEstimatorOptions options)
    {
        IMiBackend? cuda;
        lock (Registered) cuda = Registered.FirstOrDefault(b => b.Device == MiDevice.Cuda && b.IsAvailable);
        switch (device)
        {
            case MiDevice.Cpu:
                return CpuMiBackend.Instance;
            case MiDevice.Cuda:
                if (cuda == null) throw new DeviceUnavailableException($"--device cuda: no CUDA device is available on this machine ({Kernels.Acceleration.MiAccelerator.CudaProbeDescription}); use --device cpu or auto");
                if (!cuda.Supports(estimator, options)) throw new BadArgumentException($"--device cuda: estimator '{estimator}' with these options has no CUDA implementation");
                return cuda;
            default:
                return cuda != null && cuda.Supports(estimator, options) ? cuda : CpuMiBackend.Instance;
        }
    }
}
