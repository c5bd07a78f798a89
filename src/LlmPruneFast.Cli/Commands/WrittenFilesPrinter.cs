namespace LlmPruneFast.Cli.Commands;

/// <summary>Prints the files a command wrote, one line each with its size, so users see exactly what appeared.</summary>
internal static class WrittenFilesPrinter
{
    public static void Print(TextWriter output, string folder, IEnumerable<string> files)
    {
        output.WriteLine($"wrote {folder}");
        foreach (var file in files)
            output.WriteLine($"  {Path.GetFileName(file),-32} {FormatBytes(new FileInfo(file).Length),10}");
    }

    /// <summary>Bytes as B, KiB, MiB or GiB with one decimal above 1 KiB.</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):F1} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):F1} GiB",
    };
}
