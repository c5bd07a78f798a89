using LlmPruneFast.Devices;
using LlmPruneFast.Information;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Tests.Devices;

/// <summary>Device resolution with probes that say what is missing (no GPU needed): cpu, cuda and auto per stage.</summary>
public sealed class ComputeDeviceTests
{
    /// <summary>A probe with fixed answers that counts how often it is asked.</summary>
    private sealed class FixedProbe(string? onnx, string? kernels) : ICudaProbe
    {
        public int Calls;
        public string? OnnxRuntimeProblem() { Calls++; return onnx; }
        public string? KernelProblem() { Calls++; return kernels; }
    }

    [Fact]
    public void Cpu_never_probes_and_runs_everything_on_the_cpu()
    {
        var probe = new FixedProbe("x", "y");
        var d = ComputeDevice.Resolve("cpu", DeviceStages.All, probe);
        Assert.Equal(0, probe.Calls);
        Assert.False(d.OnnxCuda);
        Assert.False(d.EstimationCuda);
        Assert.Null(d.Note);
        Assert.Same(CpuMiBackend.Instance, d.MiBackend("plugin", new()));
    }

    [Fact]
    public void Cuda_with_a_missing_library_is_a_device_error_naming_it()
    {
        var e = Assert.Throws<DeviceUnavailableException>(() =>
            ComputeDevice.Resolve("cuda", DeviceStages.All, new FixedProbe("missing shared library libcublasLt.so.13", null)));
        Assert.Equal(ExitCodes.DeviceUnavailable, e.ExitCode);
        Assert.Equal(10, e.ExitCode);
        Assert.Contains("libcublasLt.so.13", e.Message);
        Assert.StartsWith("--device cuda: ONNX Runtime's CUDA provider", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Cuda_without_a_driver_fails_for_estimation_but_only_the_stages_a_verb_runs_are_probed()
    {
        var noDriver = new FixedProbe(null, "ILGPU lists no CUDA device");
        var e = Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Resolve(DeviceChoice.Cuda, DeviceStages.Estimation, noDriver));
        Assert.Contains("ILGPU lists no CUDA device", e.Message);
        // eval runs ONNX Runtime only: the kernels' state is neither asked nor a reason to fail
        var onnxOnly = new FixedProbe(null, "ILGPU lists no CUDA device");
        var d = ComputeDevice.Resolve(DeviceChoice.Cuda, DeviceStages.Onnx, onnxOnly);
        Assert.Equal(1, onnxOnly.Calls);
        Assert.True(d.OnnxCuda);
        Assert.False(d.EstimationCuda);
        Assert.Equal("cuda", d.Onnx);
    }

    [Fact]
    public void Auto_falls_back_per_stage_with_one_note_line()
    {
        var both = ComputeDevice.Resolve("auto", DeviceStages.All, new FixedProbe("this build's ONNX Runtime is CPU-only", "ILGPU lists no CUDA device"));
        Assert.False(both.OnnxCuda);
        Assert.False(both.EstimationCuda);
        Assert.NotNull(both.Note);
        Assert.StartsWith("note: --device auto:", both.Note);
        Assert.Contains("CPU-only", both.Note);
        Assert.Contains("no CUDA device", both.Note);
        Assert.DoesNotContain('\n', both.Note!);

        var half = ComputeDevice.Resolve("AUTO", DeviceStages.All, new FixedProbe(null, "ILGPU lists no CUDA device"));
        Assert.True(half.OnnxCuda);
        Assert.False(half.EstimationCuda);
        Assert.Contains("MI kernels", half.Note);
        Assert.DoesNotContain("ONNX Runtime", half.Note);

        var none = ComputeDevice.Resolve(null, DeviceStages.All, new FixedProbe(null, null));
        Assert.True(none.OnnxCuda && none.EstimationCuda);
        Assert.Null(none.Note);
    }

    [Fact]
    public void Unknown_device_is_a_bad_argument()
    {
        var e = Assert.Throws<BadArgumentException>(() => ComputeDevice.Parse("tpu"));
        Assert.Contains("--device 'tpu'", e.Message);
    }

    [Theory]
    [InlineData("/onnxruntime/core/session/provider_bridge_ort.cc:1862 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : " +
        "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file: No such file or directory", "libcublasLt.so.13")]
    [InlineData("Failed to load library libonnxruntime_providers_cuda.so with error: libonnxruntime_providers_cuda.so: cannot open shared object file: No such file or directory",
        "libonnxruntime_providers_cuda.so")]
    [InlineData("Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file", "libcudnn.so.9")]
    public void Provider_load_failures_name_the_missing_library(string message, string library)
    {
        var phrase = CudaProbe.Explain(message);
        Assert.StartsWith($"missing shared library {library} ", phrase);
    }

    [Fact]
    public void No_device_message_says_so()
    {
        Assert.StartsWith("no CUDA device or driver", CudaProbe.Explain("CUDA failure 100: no CUDA-capable device is detected ; GPU=0 ; hostname=x ; expr=cudaSetDevice(info_.device_id);"));
    }

    /// <summary>On a machine without a GPU (CI) the real probe reports both paths unusable, each with its reason.</summary>
    [Fact]
    public void Real_probe_on_a_machine_without_cuda_names_the_reasons()
    {
        if (MiAccelerator.CudaAvailable) return; // a GPU machine: the CUDA tests (perf/device-check.sh) cover it
        var onnx = CudaProbe.Instance.OnnxRuntimeProblem();
        Assert.NotNull(onnx);
        if (CudaProbe.OnnxRuntimePackage == "Microsoft.ML.OnnxRuntime") Assert.Contains("CPU-only", onnx);
        Assert.NotNull(CudaProbe.Instance.KernelProblem());
        var e = Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Resolve("cuda", DeviceStages.Onnx));
        Assert.Contains(onnx!, e.Message);
    }
}
