using System.Reflection;
using System.Text.RegularExpressions;
using Google.Protobuf;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Models.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;

namespace LlmPruneFast.Devices;

/// <summary>Whether each CUDA path can run on this machine; null means usable, otherwise what is missing.</summary>
public interface ICudaProbe
{
    /// <summary>Null when ONNX Runtime's CUDA execution provider opens a session here; else what is missing.</summary>
    string? OnnxRuntimeProblem();

    /// <summary>Null when ILGPU finds a CUDA device (driver present); else why not.</summary>
    string? KernelProblem();
}

/// <summary>
/// The real probe, each answer computed once per process. ONNX Runtime: the CPU-only package lists no CUDA provider;
/// the GPU package lists it always, so a one-node session is opened with it, which loads the provider library (and
/// through it CUDA 13's cuBLAS, cuFFT, cuDNN 9) and initialises the device. The shared library the loader could not
/// find is named from ONNX Runtime's "Failed to load library ... with error: libX.so.N: cannot open shared object
/// file" message. ILGPU: <see cref="MiAccelerator.CudaAvailable"/> (loads libcuda, lists devices).
/// </summary>
public sealed partial class CudaProbe : ICudaProbe
{
    public static readonly CudaProbe Instance = new();

    private readonly Lazy<string?> _onnx = new(ProbeOnnxRuntime);
    private readonly Lazy<string?> _kernels = new(() => MiAccelerator.CudaAvailable ? null : MiAccelerator.CudaProbeDescription);

    public string? OnnxRuntimeProblem() => _onnx.Value;
    public string? KernelProblem() => _kernels.Value;

    /// <summary>The ONNX Runtime package this build was made with (LlmPruneFast.csproj, property OrtGpu).</summary>
    public static string OnnxRuntimePackage { get; } = typeof(CudaProbe).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "OnnxRuntimePackage")?.Value ?? "Microsoft.ML.OnnxRuntime";

    private static string? ProbeOnnxRuntime()
    {
        if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
            return $"this build's ONNX Runtime is CPU-only ({OnnxRuntimePackage}); build with -p:OrtGpu=true for Microsoft.ML.OnnxRuntime.Gpu";
        try
        {
            using var so = new SessionOptions();
            OnnxProviders.AppendCuda(so);
            using var session = new InferenceSession(OneNodeGraph(), so);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or DeviceUnavailableException)
        {
            return Explain(e.InnerException is OnnxRuntimeException inner ? inner.Message : e.Message);
        }
    }

    /// <summary>One phrase for an ONNX Runtime CUDA failure message: the missing library, no device, or the message itself.</summary>
    public static string Explain(string message)
    {
        var missing = MissingLibrary().Matches(message).Select(m => m.Groups[1].Value).Distinct().ToArray();
        if (missing.Length > 0)
        {
            // The provider library itself is found but a dependency is not: name the dependency.
            var deps = missing.Where(l => !l.StartsWith("libonnxruntime", StringComparison.Ordinal)).ToArray();
            return deps.Length > 0
                ? $"missing shared library {string.Join(", ", deps)} (the CUDA 13 and cuDNN 9 libraries must be on the loader path, e.g. LD_LIBRARY_PATH)"
                : $"missing shared library {string.Join(", ", missing)} (the GPU package's provider library is not beside libonnxruntime.so in this build or publish)";
        }
        if (message.Contains("no CUDA-capable device", StringComparison.OrdinalIgnoreCase) || message.Contains("CUDA driver version is insufficient", StringComparison.OrdinalIgnoreCase))
            return "no CUDA device or driver: " + OneLine(message);
        return OneLine(message);
    }

    private static string OneLine(string s)
    {
        s = string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()));
        return s.Length > 300 ? s[..300] + "..." : s;
    }

    [GeneratedRegex(@"(lib[A-Za-z0-9_+\-]+\.so(?:\.[0-9]+)*): cannot open shared object file")]
    private static partial Regex MissingLibrary();

    /// <summary>Y = Identity(X), X float[1]: the smallest session that makes the CUDA provider initialise.</summary>
    private static byte[] OneNodeGraph()
    {
        static ValueInfoProto Value(string name) => new()
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 1 } } } } },
        };
        var graph = new GraphProto { Name = "probe", Input = { Value("X") }, Output = { Value("Y") } };
        graph.Node.Add(new NodeProto { OpType = "Identity", Input = { "X" }, Output = { "Y" } });
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }
}
