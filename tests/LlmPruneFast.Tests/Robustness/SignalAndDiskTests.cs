using System.Diagnostics;
using System.Runtime.InteropServices;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>A fact that mounts a small tmpfs: needs ../shared (a real tokenizer) and the right to mount; otherwise skipped, saying why.</summary>
public sealed class TmpfsFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Why = new(() =>
    {
        if (SharedData.Root == null) return SharedData.MissingMessage;
        if (!OperatingSystem.IsLinux()) return "tmpfs needs Linux";
        using var probe = new TempFolder();
        if (Tmpfs.Mount(probe.Path, "64k", readOnly: false) is { } error) return $"cannot mount a tmpfs here ({error}); full-disk test skipped";
        Tmpfs.Unmount(probe.Path);
        return null;
    });

    public TmpfsFactAttribute()
    {
        if (Why.Value is { } why) Skip = why;
    }
}

/// <summary>mount/umount of a size-limited tmpfs, for full-disk and read-only tests.</summary>
public static class Tmpfs
{
    /// <summary>Mounts; returns null on success, else the error text.</summary>
    public static string? Mount(string path, string size, bool readOnly)
    {
        try
        {
            var (code, err) = Run("mount", "-t", "tmpfs", "-o", $"size={size}{(readOnly ? ",ro" : "")}", "tmpfs", path);
            return code == 0 ? null : err.Trim();
        }
        catch (Exception e) { return e.Message; }
    }

    public static void Unmount(string path) => Run("umount", path);

    private static (int, string) Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, err);
    }
}

/// <summary>
/// Signals and faults during the write phase: SIGTERM is a cancellation (rc 143, one line, temporary folder removed);
/// a SIGKILL's debris is removed by the next run; a full or read-only disk is exit 9 with nothing left behind.
/// </summary>
public sealed class SignalAndDiskTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>A model big enough (about 40 MB) that writing it takes a while, with the real stories260K tokenizer.</summary>
    private static void WriteLargeModel(string dir)
    {
        var config = new LlamaConfig
        {
            HiddenSize = 512, IntermediateSize = 1536, NumHiddenLayers = 4, NumAttentionHeads = 8, NumKeyValueHeads = 8, HeadDim = 64,
            VocabSize = 512, MaxPositionEmbeddings = 64, TieWordEmbeddings = true,
        };
        LlamaCheckpointWriter.Write(dir, config, TinyLlama.Tensors(config), SharedData.Stories260KTokenizer);
    }

    private static Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llmprune.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static string[] Debris(string parent, string name) => Directory.GetDirectories(parent, AtomicOutputFolder.TempPrefix(name) + "*");

    /// <summary>Starts an import, signals it as soon as its temporary output folder appears; returns (rc, stderr, signalled).</summary>
    private static (int Code, string Err, bool Signalled) ImportAndSignal(TempFolder dir, int signal)
    {
        using var p = Start("import", "--from", "hf", "--model", dir["model"], "--out", dir["out"]);
        var err = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        bool signalled = false;
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (Debris(dir.Path, "out").Length > 0)
            {
                signalled = kill(p.Id, signal) == 0;
                break;
            }
            Thread.Sleep(1);
        }
        p.WaitForExit();
        _ = stdout.Result;
        return (p.ExitCode, err.Result, signalled);
    }

    [SharedFact]
    public void SigtermDuringTheWritePhaseIsACleanCancellation()
    {
        using var dir = new TempFolder();
        WriteLargeModel(dir["model"]);
        var (code, err, signalled) = ImportAndSignal(dir, signal: 15);
        Assert.True(signalled, $"the write phase was never seen (rc {code}: {err})");
        Assert.Equal(ExitCodes.Terminated, code);
        Assert.Equal("terminated (SIGTERM); temporary outputs removed", Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(Directory.Exists(dir["out"]), "a partial output appeared");
        Assert.Empty(Debris(dir.Path, "out"));
        var again = CliRunner.Run("import", "--from", "hf", "--model", dir["model"], "--out", dir["out"]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Empty(Debris(dir.Path, "out"));
    }

    [SharedFact]
    public void SigkillDebrisIsRemovedByTheNextRun()
    {
        using var dir = new TempFolder();
        WriteLargeModel(dir["model"]);
        var (code, _, signalled) = ImportAndSignal(dir, signal: 9);
        Assert.True(signalled);
        Assert.Equal(137, code);
        Assert.False(Directory.Exists(dir["out"]));
        Assert.NotEmpty(Debris(dir.Path, "out")); // a kill cannot be handled: the temporary folder stays ...
        var again = CliRunner.Run("import", "--from", "hf", "--model", dir["model"], "--out", dir["out"]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Empty(Debris(dir.Path, "out")); // ... until the next run beside it removes it
        using var model = LlamaCheckpoint.Open(dir["out"]);
    }

    [TmpfsFact]
    public void AFullDiskIsExit9WithNothingLeftBehind()
    {
        using var dir = new TempFolder();
        WriteLargeModel(dir["model"]);
        Directory.CreateDirectory(dir["disk"]);
        Assert.Null(Tmpfs.Mount(dir["disk"], "1m", readOnly: false));
        try
        {
            var r = CliRunner.Run("import", "--from", "hf", "--model", dir["model"], "--out", dir["disk/out"]);
            Assert.Equal(ExitCodes.FileSystemFault, r.Code);
            var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: file system", line);
            Assert.Contains("space", line);
            Assert.Empty(Directory.GetFileSystemEntries(dir["disk"]));
        }
        finally { Tmpfs.Unmount(dir["disk"]); }
    }

    [TmpfsFact]
    public void AReadOnlyOutputIsExit9WithOneLine()
    {
        using var dir = new TempFolder();
        WriteLargeModel(dir["model"]);
        Directory.CreateDirectory(dir["ro"]);
        Assert.Null(Tmpfs.Mount(dir["ro"], "1m", readOnly: true));
        try
        {
            var r = CliRunner.Run("import", "--from", "hf", "--model", dir["model"], "--out", dir["ro/out"]);
            Assert.Equal(ExitCodes.FileSystemFault, r.Code);
            Assert.StartsWith("error: file system", Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            Assert.Empty(Directory.GetFileSystemEntries(dir["ro"]));
        }
        finally { Tmpfs.Unmount(dir["ro"]); }
    }
}
