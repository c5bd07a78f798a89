using System.Text;

namespace LlmPruneFast.Reports;

/// <summary>
/// Writes a report: FILE.html (the page) and FILE.json beside it (the data it is made from), each to a temporary
/// name in the same folder and renamed, so a reader never sees a half-written file. The JSON is written first:
/// a page is never there without its data.
/// </summary>
public static class ReportWriter
{
    /// <summary>The marker in every page this tool writes; a file without it is never overwritten.</summary>
    public const string GeneratorMeta = "<meta name=\"generator\" content=\"llmprune\"/>";

    /// <summary>
    /// Checks the page and its JSON against the command's inputs and other outputs before any work (see
    /// <see cref="Models.OutputFiles"/>): an existing file is replaced only when it is a report this tool wrote.
    /// </summary>
    public static void CheckTargets(string htmlPath, Models.OutputFiles outputs, string what = "report")
    {
        string html = Path.GetFullPath(CheckPath(htmlPath));
        outputs.File(html, what, IsOwnPage);
        outputs.File(Path.ChangeExtension(html, ".json"), $"{what} data", IsOwnData);
    }

    /// <summary>True when <paramref name="path"/> is an HTML page this tool wrote (it carries <see cref="GeneratorMeta"/> in its head).</summary>
    public static bool IsOwnPage(string path)
    {
        var head = new byte[4096];
        using var fs = File.OpenRead(path);
        int n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return Encoding.UTF8.GetString(head, 0, n).Contains(GeneratorMeta, StringComparison.Ordinal);
    }

    /// <summary>True when <paramref name="path"/> is report data this tool wrote (it parses as a report).</summary>
    public static bool IsOwnData(string path)
    {
        try
        {
            if (new FileInfo(path).Length > 256L << 20) return false;
            ReportJson.Load(path);
            return true;
        }
        catch (Exception) { return false; } // anything unreadable as a report is not ours
    }

    private static string CheckPath(string htmlPath)
    {
        if (string.IsNullOrWhiteSpace(htmlPath)) throw new BadArgumentException("report path is empty");
        string html = Path.GetFullPath(htmlPath);
        if (Directory.Exists(html)) throw new OutputConflictException($"report path '{htmlPath}' is a folder, expected a file such as report.html");
        if (string.Equals(Path.ChangeExtension(html, ".json"), html, StringComparison.Ordinal))
            throw new BadArgumentException($"report path '{htmlPath}' must not end in .json (the data is written beside the page as .json)");
        string? folder = Path.GetDirectoryName(html);
        if (folder != null && !Directory.Exists(folder)) throw new MissingInputException($"folder '{folder}' of the report '{htmlPath}' does not exist");
        return htmlPath;
    }

    /// <summary>Writes <paramref name="htmlPath"/> and its JSON; returns the JSON path (htmlPath with extension .json).</summary>
    public static string Write(PruneReport report, string htmlPath, bool embedJson = false)
    {
        if (string.IsNullOrWhiteSpace(htmlPath)) throw new BadArgumentException("report path is empty");
        string html = Path.GetFullPath(htmlPath);
        if (Directory.Exists(html)) throw new OutputConflictException($"report path '{htmlPath}' is a folder, expected a file such as report.html");
        string json = Path.ChangeExtension(html, ".json");
        if (string.Equals(json, html, StringComparison.Ordinal))
            throw new BadArgumentException($"report path '{htmlPath}' must not end in .json (the data is written beside the page as .json)");
        string? folder = Path.GetDirectoryName(html);
        if (folder != null && !Directory.Exists(folder)) throw new MissingInputException($"folder '{folder}' of the report '{htmlPath}' does not exist");

        var data = ReportJson.Serialize(report);
        var page = Encoding.UTF8.GetBytes(HtmlReportRenderer.Render(report,
            new HtmlRenderOptions { EmbedJson = embedJson, JsonFileName = Path.GetFileName(json) }));
        WriteAtomically(json, data);
        WriteAtomically(html, page);
        return json;
    }

    private static void WriteAtomically(string path, byte[] bytes) => Models.AtomicFile.WriteAllBytes(path, bytes);
}
