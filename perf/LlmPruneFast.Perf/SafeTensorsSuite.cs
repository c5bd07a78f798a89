using System.Diagnostics;
using System.Runtime.CompilerServices;
using LlmPruneFast.Models;

namespace LlmPruneFast.Perf;

public static partial class Suites
{
    [ModuleInitializer]
    internal static void RegisterSafeTensors() => All["safetensors"] = SafeTensorsSuite.Run;
}

/// <summary>
/// `safetensors [--mb N]`: writes N MiB of float32 tensors (64 tensors) and reads them back through the memory-mapped
/// reader as F32 and as BF16 widened to float32. The peer is File.ReadAllBytes of the same file (plain buffered read).
/// Prints MiB/s for each and the ratio to the peer.
/// </summary>
internal static class SafeTensorsSuite
{
    public static int Run(string[] args)
    {
        int mb = args.Length == 2 && args[0] == "--mb" ? int.Parse(args[1]) : 256;
        string dir = Path.Combine(Path.GetTempPath(), $"llmprune-perf-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var random = new Random(42);
            var tensors = new InMemoryTensorSource();
            int perTensor = mb * 1024 * 1024 / 4 / 64;
            for (int i = 0; i < 64; i++)
                tensors.Add($"t{i}", [perTensor], Enumerable.Range(0, perTensor).Select(_ => (float)random.NextDouble()).ToArray());
            string f32 = Path.Combine(dir, "f32.safetensors"), bf16 = Path.Combine(dir, "bf16.safetensors");

            double write = Time(() => SafeTensorsWriter.Write(f32, tensors));
            SafeTensorsWriter.Write(bf16, tensors, storeAs: _ => TensorDType.BF16);
            double peer = Time(() => File.ReadAllBytes(f32));
            double readF32 = Time(() => { using var s = SafeTensorsFile.Open(f32); foreach (var n in s.Names) s.ReadFloat32(n); });
            double readBf16 = Time(() => { using var s = SafeTensorsFile.Open(bf16); foreach (var n in s.Names) s.ReadFloat32(n); });

            Console.WriteLine($"safetensors {mb} MiB float32 (best of 3):");
            Console.WriteLine($"  write F32 (atomic, fsync)   {mb / write,8:F0} MiB/s");
            Console.WriteLine($"  File.ReadAllBytes (peer)    {mb / peer,8:F0} MiB/s");
            Console.WriteLine($"  read F32 -> float[]         {mb / readF32,8:F0} MiB/s  ({peer / readF32:F2}x peer)");
            Console.WriteLine($"  read BF16 -> float[]        {mb / readBf16,8:F0} MiB/s of float32 out ({peer / readBf16:F2}x peer)");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Best of three wall-clock runs, in seconds.</summary>
    private static double Time(Action action)
    {
        double best = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }
}
