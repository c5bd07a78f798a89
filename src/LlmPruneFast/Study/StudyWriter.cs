using System.Text;
using LlmPruneFast.Models;

namespace LlmPruneFast.Study;

/// <summary>
/// Writes a study's output folder (appears only when complete, <see cref="AtomicOutputFolder"/>): results.csv,
/// results.md, sensitivity.svg, study.html, study.json.
/// </summary>
public static class StudyWriter
{
    public static readonly IReadOnlyList<string> FileNames = ["results.csv", "results.md", "sensitivity.svg", "study.html", "study.json"];

    /// <summary>Refuses an output that is not new or empty, or that clashes with an input (before any work).</summary>
    public static void CheckOutput(string outDir, IEnumerable<string> inputs) => AtomicOutputFolder.CheckOutput(outDir, inputs);

    /// <summary>Writes the five files; returns their final absolute paths. <paramref name="command"/> is quoted in results.md and study.html.</summary>
    public static IReadOnlyList<string> Write(string outDir, StudyResult result, IEnumerable<string> inputs, string? command = null)
    {
        var utf8 = new UTF8Encoding(false);
        var contents = new[]
        {
            StudyTables.Csv(result.Rows),
            StudyTables.Markdown(result, command),
            StudyPage.SensitivitySvg(result.Sensitivity),
            StudyPage.Html(result, command),
            StudyJson.Serialize(result),
        };
        using var folder = AtomicOutputFolder.Create(outDir, inputs);
        for (int i = 0; i < FileNames.Count; i++) File.WriteAllText(folder.PathOf(FileNames[i]), contents[i], utf8);
        folder.Commit();
        return FileNames.Select(n => Path.Combine(folder.FinalPath, n)).ToArray();
    }
}
