using LlmPruneFast.Information;

namespace LlmPruneFast.Devices;

/// <summary>What <c>--device</c> asked for.</summary>
public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>The kinds of work a verb runs, each of which may go to CUDA.</summary>
[Flags]
public enum DeviceStages
{
    None = 0,
    /// <summary>ONNX Runtime sessions: capture, evaluation, generation, latency (the CUDA execution provider).</summary>
    Onnx = 1,
    /// <summary>Mutual-information estimation (the ILGPU kernels).</summary>
    Estimation = 2,
    All = Onnx | Estimation,
}

/// <summary>
/// The device each kind of work runs on, resolved once per command from <c>--device auto|cpu|cuda</c> and what the
/// machine offers (<see cref="ICudaProbe"/>). <c>cpu</c>: everything on the CPU, nothing probed. <c>cuda</c>: every
/// stage the verb runs must be able to use CUDA, else <see cref="DeviceUnavailableException"/> naming what is missing.
/// <c>auto</c>: CUDA where usable, the CPU elsewhere, with a one-line <see cref="Note"/> saying what fell back and why.
/// </summary>
public sealed class ComputeDevice
{
    private ComputeDevice(DeviceChoice choice, bool onnxCuda, bool estimationCuda, string? note)
    {
        Choice = choice;
        OnnxCuda = onnxCuda;
        EstimationCuda = estimationCuda;
        Note = note;
    }

    /// <summary>Everything on the CPU (the library's default: callers that pass no device).</summary>
    public static ComputeDevice Cpu { get; } = new(DeviceChoice.Cpu, false, false, null);

    public DeviceChoice Choice { get; }

    /// <summary>ONNX Runtime sessions append the CUDA execution provider.</summary>
    public bool OnnxCuda { get; }

    /// <summary>MI estimators run on the ILGPU CUDA backend (where it implements the estimator).</summary>
    public bool EstimationCuda { get; }

    /// <summary>"cpu" or "cuda": where ONNX Runtime runs.</summary>
    public string Onnx => OnnxCuda ? "cuda" : "cpu";

    /// <summary>With <c>auto</c>, one line saying which stages fell back to the CPU and why; null otherwise.</summary>
    public string? Note { get; }

    /// <summary>Parses "auto", "cpu" or "cuda" (any case).</summary>
    public static DeviceChoice Parse(string? text) => (text ?? "auto").Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "cuda" => DeviceChoice.Cuda,
        _ => throw new BadArgumentException($"--device '{text}' is not auto, cpu or cuda"),
    };

    /// <summary>Resolves <paramref name="text"/> (see <see cref="Parse"/>) for a verb that runs <paramref name="stages"/>.</summary>
    public static ComputeDevice Resolve(string? text, DeviceStages stages, ICudaProbe? probe = null) => Resolve(Parse(text), stages, probe);

    /// <summary>
    /// Resolves <paramref name="choice"/> for a verb that runs <paramref name="stages"/>; only those stages are probed.
    /// </summary>
    /// <exception cref="DeviceUnavailableException"><c>cuda</c> and a stage cannot use CUDA here.</exception>
    public static ComputeDevice Resolve(DeviceChoice choice, DeviceStages stages, ICudaProbe? probe = null)
    {
        if (choice == DeviceChoice.Cpu || stages == DeviceStages.None) return choice == DeviceChoice.Cpu ? Cpu : new(choice, false, false, null);
        probe ??= CudaProbe.Instance;
        string? onnx = stages.HasFlag(DeviceStages.Onnx) ? probe.OnnxRuntimeProblem() : null;
        string? kernels = stages.HasFlag(DeviceStages.Estimation) ? probe.KernelProblem() : null;
        if (choice == DeviceChoice.Cuda)
        {
            if (onnx != null) throw new DeviceUnavailableException($"--device cuda: ONNX Runtime's CUDA provider is not usable: {onnx}; use --device cpu or auto");
            if (kernels != null) throw new DeviceUnavailableException($"--device cuda: the CUDA kernels cannot run: {kernels}; use --device cpu or auto");
            return new(choice, stages.HasFlag(DeviceStages.Onnx), stages.HasFlag(DeviceStages.Estimation), null);
        }
        var fellBack = new List<string>();
        if (onnx != null) fellBack.Add($"ONNX Runtime: {onnx}");
        if (kernels != null) fellBack.Add($"MI kernels: {kernels}");
        string? note = fellBack.Count == 0 ? null : $"note: --device auto: running on the CPU where CUDA is not usable ({string.Join("; ", fellBack)})";
        return new(choice, stages.HasFlag(DeviceStages.Onnx) && onnx == null, stages.HasFlag(DeviceStages.Estimation) && kernels == null, note);
    }

    /// <summary>
    /// The MI backend for <paramref name="estimator"/>: the ILGPU CUDA backend when estimation runs on CUDA and it
    /// implements these options, else the CPU. With <c>cuda</c>, an estimator the kernels lack is a
    /// <see cref="BadArgumentException"/> (the flags, not the machine, are at fault).
    /// </summary>
    public IMiBackend MiBackend(string estimator, MiEstimatorOptions options)
    {
        if (!EstimationCuda) return CpuMiBackend.Instance;
        return MiBackends.Resolve(Choice == DeviceChoice.Cuda ? MiDevice.Cuda : MiDevice.Auto, estimator, options);
    }

    /// <summary>A one-line description for logs: "onnx cuda, mi cpu".</summary>
    public override string ToString() => $"onnx {Onnx}, mi {(EstimationCuda ? "cuda" : "cpu")}";
}
