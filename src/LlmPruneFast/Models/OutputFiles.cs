namespace LlmPruneFast.Models;

/// <summary>
/// Checks every output of one command against every input before any work is done, so a mistyped path fails in the
/// first second and never after a long run, and no user file is overwritten or written into.
/// </summary>
/// <remarks>
/// Paths are compared with every symbolic link resolved. An output may not be an input, lie inside an input folder
/// (the model folder is the user's), contain an input, or repeat another output. An existing file is replaced only
/// when <c>ownedByTool</c> recognises it as one this tool wrote (e.g. a previous report).
/// </remarks>
public sealed class OutputFiles
{
    private readonly List<string> _inputs = [];
    private readonly List<(string Path, string What)> _outputs = [];

    /// <param name="inputs">Input files and folders; nulls (absent optional flags) are skipped.</param>
    public OutputFiles(params string?[] inputs)
    {
        foreach (var i in inputs)
            if (!string.IsNullOrWhiteSpace(i)) _inputs.Add(AtomicOutputFolder.Normalize(i));
    }

    /// <summary>Input paths as compared (absolute, links resolved).</summary>
    public IReadOnlyList<string> Inputs => _inputs;

    /// <summary>An output folder that must be new or empty (see <see cref="AtomicOutputFolder.CheckOutput"/>); returns its absolute path.</summary>
    public string Folder(string path, string what)
    {
        string final = AtomicOutputFolder.CheckOutput(path, _inputs);
        AddOutput(AtomicOutputFolder.Normalize(path), what, final);
        return final;
    }

    /// <summary>
    /// An output file; returns its absolute path. Refused (exit 6) when it is an input, lies inside an input folder,
    /// is a folder, or exists and <paramref name="ownedByTool"/> does not recognise it.
    /// </summary>
    public string File(string path, string what, Func<string, bool>? ownedByTool = null)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new BadArgumentException($"{what} path is empty");
        string full = Path.GetFullPath(path);
        string resolved = AtomicOutputFolder.Normalize(path);
        if (Directory.Exists(resolved)) throw new OutputConflictException($"{what} '{full}' is a folder; expected a file path");
        foreach (var input in _inputs)
        {
            if (AtomicOutputFolder.PathEquals(resolved, input))
                throw new OutputConflictException($"{what} '{full}' is the input '{input}'; choose another path");
            if (Directory.Exists(input) && AtomicOutputFolder.IsInside(resolved, input))
                throw new OutputConflictException($"{what} '{full}' is inside the input folder '{input}'; write it outside the model and input folders");
        }
        if (System.IO.File.Exists(resolved) && !(ownedByTool?.Invoke(resolved) ?? false))
            throw new OutputConflictException($"{what} '{full}' exists and was not written by llmprune; remove it or choose a new path");
        AddOutput(resolved, what, full);
        return full;
    }

    private void AddOutput(string resolved, string what, string full)
    {
        foreach (var (other, otherWhat) in _outputs)
            if (AtomicOutputFolder.PathEquals(other, resolved))
                throw new OutputConflictException($"{what} '{full}' is also the {otherWhat}; give each output its own path");
        _outputs.Add((resolved, what));
    }
}
