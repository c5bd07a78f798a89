using LlmPruneFast.Models;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>Temporary outputs of killed runs are removed by the next run; those of live runs and foreign folders are kept.</summary>
public sealed class TempDebrisTests
{
    private static int DeadPid()
    {
        for (int pid = 4_000_000; ; pid--)
            if (!Directory.Exists($"/proc/{pid}")) return pid;
    }

    [Fact]
    public void StaleTempFoldersOfDeadProcessesAreRemovedOnTheNextRun()
    {
        using var dir = new TempFolder();
        string stale = dir[$".out.tmp-{DeadPid()}-{Guid.NewGuid():N}"];
        string live = dir[$".out.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}"];
        string foreign = dir[".out.tmp-notours"];
        string otherOutput = dir[$".other.tmp-{DeadPid()}-{Guid.NewGuid():N}"];
        foreach (var d in new[] { stale, live, foreign, otherOutput })
        {
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, "model.safetensors"), "partial");
        }
        using (var folder = AtomicOutputFolder.Create(dir["out"], []))
        {
            Assert.StartsWith($".out.tmp-{Environment.ProcessId}-", Path.GetFileName(folder.TempPath));
            File.WriteAllText(folder.PathOf("a.txt"), "a");
            folder.Commit();
        }
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(live));
        Assert.True(Directory.Exists(foreign));
        Assert.True(Directory.Exists(otherOutput));
        Assert.Equal("a", File.ReadAllText(dir["out/a.txt"]));
    }

    [Fact]
    public void StaleTemporaryFilesOfDeadProcessesAreRemovedOnTheNextWrite()
    {
        using var dir = new TempFolder();
        string stale = dir[$"plan.json.tmp-{DeadPid()}"], mine = dir[$"plan.json.tmp-{Environment.ProcessId}x"], other = dir["notes.txt.tmp-1"];
        foreach (var f in new[] { stale, mine, other }) File.WriteAllText(f, "partial");
        AtomicFile.WriteAllBytes(dir["plan.json"], [1, 2, 3]);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(mine));
        Assert.True(File.Exists(other));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(dir["plan.json"]));
    }

    [Fact]
    public void AFailedWriteLeavesNoTemporaryFile()
    {
        using var dir = new TempFolder();
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(dir["plan.json"], s =>
        {
            s.Write(new byte[100]);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
