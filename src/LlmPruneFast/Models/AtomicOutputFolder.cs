namespace LlmPruneFast.Models;

/// <summary>
/// An output folder that appears only when complete: everything is written into a temporary sibling folder, and
/// <see cref="Commit"/> renames it into place. Disposing without committing removes the temporary folder (and any
/// parent folders this instance created), so a failure leaves nothing behind.
/// </summary>
public sealed class AtomicOutputFolder : IDisposable
{
    private readonly string? _createdAncestor;
    private bool _committed;

    /// <summary>Final location (absolute).</summary>
    public string FinalPath { get; }
    /// <summary>Where files are written until <see cref="Commit"/>.</summary>
    public string TempPath { get; }

    private AtomicOutputFolder(string finalPath, string tempPath, string? createdAncestor)
    {
        FinalPath = finalPath;
        TempPath = tempPath;
        _createdAncestor = createdAncestor;
    }

    /// <summary>
    /// Checks <paramref name="outDir"/> against <paramref name="inputs"/> (see <see cref="CheckOutput"/>) and creates the
    /// temporary sibling folder.
    /// </summary>
    public static AtomicOutputFolder Create(string outDir, IEnumerable<string> inputs)
    {
        string final = CheckOutput(outDir, inputs);
        string parent = Path.GetDirectoryName(final)!;
        string? createdAncestor = null;
        for (var p = parent; !Directory.Exists(p); p = Path.GetDirectoryName(p)!) createdAncestor = p;
        Directory.CreateDirectory(parent);
        RemoveStale(parent, Path.GetFileName(final));
        string temp = Path.Combine(parent, $"{TempPrefix(Path.GetFileName(final))}{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        return new AtomicOutputFolder(final, temp, createdAncestor);
    }

    /// <summary>
    /// Refuses an output folder that equals an input path, lies inside an input folder, contains an input, is an
    /// existing file, or exists and is not empty. Returns its absolute path.
    /// </summary>
    /// <exception cref="OutputConflictException">Naming the output and the conflict.</exception>
    public static string CheckOutput(string outDir, IEnumerable<string> inputs)
    {
        if (string.IsNullOrWhiteSpace(outDir)) throw new BadArgumentException("the output folder is empty");
        string final = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        string resolved = Normalize(outDir);
        if (Path.GetDirectoryName(final) == null) throw new OutputConflictException($"output folder '{final}' is a file-system root");
        foreach (var input in inputs)
        {
            string src = Normalize(input);
            if (PathEquals(resolved, src))
                throw new OutputConflictException($"output folder '{final}' is the input '{src}'; choose another --out");
            if (Directory.Exists(src) && IsInside(resolved, src))
                throw new OutputConflictException($"output folder '{final}' is inside the input folder '{src}'; choose a folder outside it");
            if (IsInside(src, resolved))
                throw new OutputConflictException($"output folder '{final}' contains the input '{src}'; choose another --out");
        }
        if (File.Exists(final))
            throw new OutputConflictException($"output folder '{final}' exists and is a file");
        if (Directory.Exists(final) && Directory.EnumerateFileSystemEntries(final).Any())
            throw new OutputConflictException($"output folder '{final}' exists and is not empty; choose a new folder or empty it");
        return final;
    }

    /// <summary>Name prefix of the temporary folders of output <paramref name="name"/>: <c>.NAME.tmp-</c>, then PID-GUID.</summary>
    public static string TempPrefix(string name) => $".{name}.tmp-";

    /// <summary>
    /// Removes temporary folders of output <paramref name="name"/> in <paramref name="parent"/> left by runs that were
    /// killed (their process no longer exists). Folders of live processes, and anything not named like ours, are kept.
    /// </summary>
    public static int RemoveStale(string parent, string name)
    {
        if (!Directory.Exists(parent)) return 0;
        string prefix = TempPrefix(name);
        int removed = 0;
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            string rest = Path.GetFileName(dir)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)) continue;
            if (!Guid.TryParseExact(rest[(dash + 1)..], "N", out _)) continue;
            if (pid == Environment.ProcessId || IsAlive(pid)) continue; // still being written
            try
            {
                Directory.Delete(dir, recursive: true);
                removed++;
            }
            catch (IOException) { } // another cleaner got there first, or it is busy: try again next run
            catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static bool IsAlive(int pid)
    {
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>Absolute path of <paramref name="relative"/> inside the temporary folder.</summary>
    public string PathOf(string relative) => Path.Combine(TempPath, relative);

    /// <summary>Renames the temporary folder to <see cref="FinalPath"/> (which must still be absent or empty).</summary>
    public void Commit()
    {
        if (_committed) throw new InvalidOperationException("already committed");
        if (Directory.Exists(FinalPath))
        {
            if (Directory.EnumerateFileSystemEntries(FinalPath).Any())
                throw new OutputConflictException($"output folder '{FinalPath}' was filled by someone else while writing");
            Directory.Delete(FinalPath);
        }
        Directory.Move(TempPath, FinalPath);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        try
        {
            if (Directory.Exists(TempPath)) Directory.Delete(TempPath, recursive: true);
        }
        catch (IOException) { return; } // keep the original failure; the next run removes this folder (RemoveStale)
        catch (UnauthorizedAccessException) { return; }
        if (_createdAncestor != null && Directory.Exists(_createdAncestor) && !Directory.EnumerateFileSystemEntries(_createdAncestor, "*", SearchOption.AllDirectories).Any(File.Exists))
            Directory.Delete(_createdAncestor, recursive: true);
    }

    /// <summary>Absolute path with every existing symbolic link along it resolved, so a link cannot disguise the input.</summary>
    public static string Normalize(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        string root = Path.GetPathRoot(full)!;
        string current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (info.Exists && info.LinkTarget != null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                current = Path.TrimEndingDirectorySeparator(target.FullName);
        }
        return current;
    }

    public static bool PathEquals(string a, string b) =>
        string.Equals(a, b, OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="inner"/> lies strictly below folder <paramref name="outer"/>.</summary>
    public static bool IsInside(string inner, string outer)
    {
        for (var p = Path.GetDirectoryName(inner); p != null; p = Path.GetDirectoryName(p))
            if (PathEquals(p, outer)) return true;
        return false;
    }
}
