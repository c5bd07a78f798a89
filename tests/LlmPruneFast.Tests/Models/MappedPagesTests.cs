using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

/// <summary>
/// Releasing a mapped tensor's pages drops them from the process's resident set (Linux) and leaves the data readable.
/// </summary>
public sealed class MappedPagesTests
{
    /// <summary>RssFile of this process in KiB (Linux), or -1.</summary>
    private static long RssFileKib()
    {
        if (!File.Exists("/proc/self/status")) return -1;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("RssFile:", StringComparison.Ordinal));
        return line == null ? -1 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    [Fact]
    public void ReleasedTensor_LeavesTheResidentSet_AndReadsTheSameAgain()
    {
        using var dir = new TempFolder();
        var data = Enumerable.Range(0, 16 << 20).Select(i => (float)Math.Sin(i)).ToArray();   // 64 MiB of F32, 32 MiB as BF16
        using (var t = new InMemoryTensorSource())
        {
            t.Add("w", [16, 1 << 20], data);
            SafeTensorsWriter.Write(dir["m.safetensors"], t, storeAs: _ => TensorDType.BF16);
        }
        using var file = SafeTensorsFile.Open(dir["m.safetensors"]);
        var raw = file.RawBytes("w", 0, 32 << 20);
        long sum = 0;
        for (int i = 0; i < raw.Length; i += 4096) sum += raw[i];   // touch every page: all resident
        long touched = RssFileKib();
        bool released = file.ReleasePages("w");
        long after = RssFileKib();
        if (OperatingSystem.IsLinux())
        {
            Assert.True(released, "madvise was refused");
            Assert.True(touched - after > 24 << 10, $"RssFile {touched} KiB -> {after} KiB after releasing 32 MiB");
        }
        var again = file.ReadFloat32("w");   // faults the pages in again; ReadFloat32 releases them itself afterwards
        var expected = new byte[2];
        for (int i = 0; i < again.Length; i += 4099)
        {
            FloatWidening.FromFloat32(TensorDType.BF16, [data[i]], expected);
            var one = new float[1];
            FloatWidening.ToFloat32(TensorDType.BF16, expected, one);
            Assert.Equal(one[0], again[i]);
        }
        Assert.True(sum >= 0);
    }
}
