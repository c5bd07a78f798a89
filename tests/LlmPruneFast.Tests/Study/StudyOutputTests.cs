using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using LlmPruneFast.Study;
using LlmPruneFast.Tests.Models;
using static LlmPruneFast.Tests.Study.StudyFixtures;

namespace LlmPruneFast.Tests.Study;

/// <summary>results.csv, results.md, study.json, sensitivity.svg and study.html from hand-made rows.</summary>
public sealed class StudyOutputTests
{
    private static StudyResult Result()
    {
        var a = Model("tiny, \"real\"", 1000);
        var b = Model("tiny-x2", 1800, Provenance.Constructed);
        var rows = new List<StudyRow>();
        foreach (var m in new[] { a, b })
            foreach (var ratio in new[] { 0.2, 0.5 })
            {
                rows.Add(Row(m, "magnitude", ratio, 4, 4 + 10 * ratio));
                rows.Add(Row(m, "flap", ratio, 4, 4 + 2 * ratio));
            }
        return new StudyResult
        {
            Request = new StudyRequest
            {
                Methods = ["magnitude", "flap"], Ratios = [0.2, 0.5], Compensations = ["none"],
                CalibrationText = "calib.txt", EvaluationText = "eval.txt", EvalParagraphs = 6, Samples = 512, Seed = 0,
            },
            Models = [new StudyModelRun(a, 4, 500, 6, 1, 512, 1, 1), new StudyModelRun(b, 4, 500, 6, 1, 512, 1, 1)],
            Rows = rows,
            Sensitivity = Sensitivity.Compute(rows),
            Seconds = 3,
        };
    }

    [Fact]
    public void Csv_HeaderAndOneLinePerRun_QuotesFields_RoundTripsNumbers()
    {
        var result = Result();
        var lines = StudyTables.Csv(result.Rows).Split('\n');
        Assert.Equal("", lines[^1]);
        Assert.Equal(string.Join(",", StudyTables.CsvColumns), lines[0]);
        Assert.Equal(1 + result.Rows.Count, lines.Length - 1);
        Assert.StartsWith("\"tiny, \"\"real\"\"\",pretrained,1000,2,8,16,magnitude,0.2,none,none,4,6,", lines[1]);
        Assert.StartsWith("tiny-x2,constructed,1800,", lines[5]);
        // After the quoted name, every line has exactly the header's column count.
        var fields = lines[2][(lines[2].IndexOf("\",", StringComparison.Ordinal) + 2)..].Split(',');
        Assert.Equal(StudyTables.CsvColumns.Count - 1, fields.Length);
        int col = StudyTables.CsvColumns.ToList().IndexOf("delta_nll") - 1;
        Assert.Equal(result.Rows[1].DeltaNll, double.Parse(fields[col], CultureInfo.InvariantCulture));
        Assert.Equal("x", StudyTables.CsvField("x"));
        Assert.Equal("\"a\nb\"", StudyTables.CsvField("a\nb"));
    }

    [Fact]
    public void Markdown_DeltaTablePerRatio_SensitivityTable_Definition_ConstructedSaidPlainly()
    {
        var md = StudyTables.Markdown(Result(), "llmprune study ...");
        Assert.Contains("Command: `llmprune study ...`", md);
        Assert.Contains("## Change of perplexity at 20% FFN sparsity, compensation none", md);
        Assert.Contains("## Change of perplexity at 50% FFN sparsity, compensation none", md);
        Assert.Contains("| method | tiny, \"real\" | tiny-x2 |", md);
        Assert.Contains("| magnitude | +2.000 (6.000) | +2.000 (6.000) |", md);
        Assert.Contains("| flap | +1.000 (5.000) | +1.000 (5.000) |", md);
        Assert.Contains(Sensitivity.Definition, md);
        // d = ln(9/4) and ln(5/4) at 50%: max/min = 3.63.
        Assert.Contains($"| tiny-x2 | constructed | 1,800 | 50% | none | 2 | ", md);
        Assert.Contains($"| {StudyTables.Fixed(Math.Log(9.0 / 4) / Math.Log(5.0 / 4), 2)} | ", md);
        Assert.Contains("not pretrained models of that size", md);
    }

    [Fact]
    public void Json_HasEveryRowAndSensitivity_NaNAsNull()
    {
        var r = Result();
        var rows = r.Rows.Append(Row(r.Rows[0].Model, "random", 0.2, 4, 4)).ToList();
        var withNaN = r with { Rows = rows, Sensitivity = Sensitivity.Compute(rows) };
        using var doc = JsonDocument.Parse(StudyJson.Serialize(withNaN));
        var root = doc.RootElement;
        Assert.Equal(StudyJson.Version, root.GetProperty("version").GetInt32());
        Assert.Equal(rows.Count, root.GetProperty("rows").GetArrayLength());
        Assert.Equal(4, root.GetProperty("sensitivity").GetArrayLength());
        var first = root.GetProperty("sensitivity")[0];
        Assert.Equal(JsonValueKind.Null, first.GetProperty("max_over_min").ValueKind);
        Assert.Equal(3, first.GetProperty("criteria").GetInt32());
        Assert.Equal("constructed", root.GetProperty("models")[1].GetProperty("provenance").GetString());
    }

    [Fact]
    public void Svg_AndHtml_AreWellFormedXml_WithTheChartAndNoUrlButTheSvgNamespace()
    {
        var r = Result();
        string svg = StudyPage.SensitivitySvg(r.Sensitivity);
        var doc = XDocument.Parse(svg);
        Assert.Equal("http://www.w3.org/2000/svg", doc.Root!.Name.NamespaceName);
        Assert.Contains("<style>", svg);
        Assert.Equal(4, doc.Descendants().Count(e => e.Name.LocalName == "circle"));
        string html = StudyPage.Html(r, "llmprune study x");
        XDocument.Parse(html.Replace("<!DOCTYPE html>", ""));
        Assert.Contains("data-chart=\"sensitivity\"", html);
        Assert.Contains("data-chart=\"sweep-perplexity\"", html);
        Assert.DoesNotContain("http", html);
        Assert.DoesNotContain("<script", html);
    }

    [Fact]
    public void Writer_WritesFiveFilesAtomically_AndRefusesANonEmptyFolder()
    {
        using var folder = new TempFolder();
        var files = StudyWriter.Write(folder["out"], Result(), [folder["model"]]);
        Assert.Equal(StudyWriter.FileNames, files.Select(Path.GetFileName));
        Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0));
        Assert.Throws<OutputConflictException>(() => StudyWriter.Write(folder["out"], Result(), [folder["model"]]));
        Assert.Single(Directory.GetDirectories(folder.Path));
    }

    [Fact]
    public void StudyModelFile_RoundTrips_RejectsUnknownProvenance_AndContradiction()
    {
        using var folder = new TempFolder();
        new StudyModelFile("w", Provenance.Constructed, "made by hand").Write(folder.Path);
        var read = StudyModelFile.Read(folder.Path);
        Assert.Equal(new StudyModelFile("w", Provenance.Constructed, "made by hand"), read);
        Assert.Throws<BadArgumentException>(() => read.WithStated(Provenance.Pretrained, folder.Path));
        Assert.Equal(read, read.WithStated(Provenance.Constructed, folder.Path));
        Assert.Equal(Provenance.Pretrained, new StudyModelFile(null, null, null).WithStated(Provenance.Pretrained, "x").Provenance);
        File.WriteAllText(Path.Combine(folder.Path, StudyModelFile.FileName), "{\"provenance\": \"probably\"}");
        Assert.Throws<BadModelFileException>(() => StudyModelFile.Read(folder.Path));
        using var empty = new TempFolder();
        Assert.Equal(new StudyModelFile(null, null, null), StudyModelFile.Read(empty.Path));
    }
}
