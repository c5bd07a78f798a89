using System.Text;
using LlmPruneFast.Information;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Fuzz;

/// <summary>
/// One fuzz target per reader: bytes in, and the only acceptable failure is a typed <see cref="LlmPruneException"/>
/// (what the CLI turns into one error line). Anything else escapes, and afl-fuzz records it as a crash.
/// </summary>
public static class Targets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["safetensors"] = SafeTensors,
        ["config"] = bytes => HfConfig.Parse(Encoding.UTF8.GetString(bytes), "config.json"),
        ["llama2c"] = bytes =>
        {
            var (_, tensors) = Llama2cCheckpoint.Read(new MemoryStream(bytes, writable: false), "fuzz.bin");
            FiniteWeights.Check(tensors, "fuzz.bin");
        },
        ["plan"] = bytes => PlanJson.Parse(bytes, "plan.json"),
        ["npy"] = bytes => ActivationFiles.Read(new MemoryStream(bytes, writable: false), "fuzz.npy", 3),
        ["onnx"] = bytes => OnnxModelFile.Load(new MemoryStream(bytes, writable: false), Path.Combine(Path.GetTempPath(), "llmprune-fuzz.onnx")),
    };

    private static void SafeTensors(byte[] file)
    {
        var prefix = new byte[8];
        file.AsSpan(0, Math.Min(8, file.Length)).CopyTo(prefix);
        long n = SafeTensorsHeader.ReadHeaderLength(prefix, file.Length, "fuzz.safetensors");
        SafeTensorsHeader.Parse(file.AsSpan(8, (int)n), file.Length, "fuzz.safetensors");
    }

    /// <summary>Runs a target, swallowing only the typed refusals.</summary>
    public static void Run(string name, byte[] bytes)
    {
        try { All[name](bytes); }
        catch (LlmPruneException) { }
    }
}
