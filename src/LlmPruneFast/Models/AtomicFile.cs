namespace LlmPruneFast.Models;

/// <summary>
/// A file that appears only when complete: written to <c>PATH.tmp-PID</c> beside it and renamed into place. On any
/// failure (disk full, permission, cancellation) the temporary file is removed, so nothing partial is left.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Writes <paramref name="lines"/> ('\n' ends) to <paramref name="path"/> atomically.</summary>
    public static void WriteAllLines(string path, IEnumerable<string> lines) => Write(path, s =>
    {
        using var w = new StreamWriter(s, leaveOpen: true) { NewLine = "\n" };
        foreach (var l in lines) w.WriteLine(l);
    });

    /// <summary>Removes <c>PATH.tmp-PID</c> files left by killed runs (their process no longer exists).</summary>
    private static void RemoveStale(string full)
    {
        string? folder = Path.GetDirectoryName(full);
        if (folder == null || !Directory.Exists(folder)) return;
        string prefix = Path.GetFileName(full) + ".tmp-";
        foreach (var f in Directory.EnumerateFiles(folder, prefix + "*"))
        {
            if (!int.TryParse(Path.GetFileName(f)[prefix.Length..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)) continue;
            if (pid == Environment.ProcessId || (OperatingSystem.IsLinux() ? Directory.Exists($"/proc/{pid}") : true)) continue; // alive (or unknowable)
            try { File.Delete(f); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Lets <paramref name="write"/> fill a temporary stream, then renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        RemoveStale(full);
        string tmp = $"{full}.tmp-{Environment.ProcessId}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: false);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            try
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
            catch (IOException) { }           // keep the original failure
            catch (UnauthorizedAccessException) { }
        }
    }
}
