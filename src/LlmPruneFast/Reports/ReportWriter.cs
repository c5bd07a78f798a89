using System.Text;

namespace LlmPruneFast.Reports;

/// <summary>
/// Writes a report: FILE.html (the page) and FILE.json beside it (the data it is made from), each to a temporary
/// name in the same folder and renamed, so a reader never sees a half-written file. The JSON is written first:
/// a page is never there without its data.
/// </summary>
public static class ReportWriter
{
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

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string tmp = $"{path}.tmp-{Environment.ProcessId}";
        try
        {
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
