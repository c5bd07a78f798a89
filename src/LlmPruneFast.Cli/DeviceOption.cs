using LlmPruneFast.Devices;

namespace LlmPruneFast.Cli;

/// <summary>The <c>--device</c> flag every verb that runs a model or estimates shares.</summary>
internal static class DeviceOption
{
    public const string Help = "auto | cpu | cuda: where ONNX Runtime and MI estimation run. cuda: every stage on CUDA, or exit 10 naming what is missing " +
        "(driver, a CUDA library, the CPU-only build). auto (the default): CUDA where usable, else the CPU; written explicitly it says on stderr what fell back.";

    /// <summary>
    /// Resolves the flag once for a verb running <paramref name="stages"/>. The fallback note goes to stderr only when
    /// <c>--device auto</c> was written: the silent default keeps a CPU machine's output as it always was.
    /// </summary>
    public static ComputeDevice Resolve(string? flag, DeviceStages stages)
    {
        var device = ComputeDevice.Resolve(flag, stages);
        if (flag != null && device.Note != null) Console.Error.WriteLine(device.Note);
        return device;
    }
}
