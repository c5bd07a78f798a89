using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Reports;

/// <summary>`llmprune report` run as a user runs it (separate process), on the real stories260K plan and report data.</summary>
public sealed class ReportCommandTests
{
    [SharedFact]
    public void ReportData_RendersTheSamePageAsTheLibrary()
    {
        using var dir = new TempFolder();
        PlanJson.Save(ReportSamples.Stories260KPlan, dir["plan.json"]);
        File.WriteAllBytes(dir["data.json"], ReportJson.Serialize(ReportSamples.Stories260K));
        var (code, output, err) = CliRunner.Run("report", "--plan", dir["plan.json"], "--report-data", dir["data.json"], "--out", dir["r.html"]);
        Assert.True(code == 0, err);
        Assert.Contains("r.html", output);
        Assert.Equal(HtmlReportRenderer.Render(ReportSamples.Stories260K, new HtmlRenderOptions { JsonFileName = "r.json" }), File.ReadAllText(dir["r.html"]));
        Assert.Equal(File.ReadAllBytes(dir["data.json"]), File.ReadAllBytes(dir["r.json"]));
    }

    [SharedFact]
    public void ReportDataOfAnotherPlan_IsRejectedAndNothingIsWritten()
    {
        using var dir = new TempFolder();
        PlanJson.Save(ReportSamples.Stories260KPlan, dir["plan.json"]);
        var other = ReportSamples.Stories260K with { Summary = ReportSamples.Stories260K.Summary with { Method = "flap" } };
        File.WriteAllBytes(dir["data.json"], ReportJson.Serialize(other));
        var (code, _, err) = CliRunner.Run("report", "--plan", dir["plan.json"], "--report-data", dir["data.json"], "--out", dir["r.html"]);
        Assert.Equal(2, code);
        Assert.Contains("does not belong to --plan", err);
        Assert.False(File.Exists(dir["r.html"]) || File.Exists(dir["r.json"]));
    }

    [SharedFact]
    public void PlanOnly_ShowsCountsAndCardsAndSaysWhatIsMissing()
    {
        using var dir = new TempFolder();
        PlanJson.Save(ReportSamples.Stories260KPlan, dir["plan.json"]);
        var (code, _, err) = CliRunner.Run("report", "--plan", dir["plan.json"], "--out", dir["r.html"]);
        Assert.True(code == 0, err);
        var doc = HtmlReportRendererTests.ParseXhtml(File.ReadAllText(dir["r.html"]));
        Assert.Single(doc.Descendants("svg"), s => (string?)s.Attribute("data-chart") == "kept-removed");
        Assert.DoesNotContain(doc.Descendants("svg"), s => (string?)s.Attribute("data-chart") == "mi-histogram");
        Assert.NotEmpty(doc.Descendants("article"));
        Assert.Contains("were not recaptured", File.ReadAllText(dir["r.html"]));
    }

    [Fact]
    public void BadArguments_ExitWithTheirCodes()
    {
        using var dir = new TempFolder();
        Assert.Equal(5, CliRunner.Run("report", "--plan", dir["none.json"], "--out", dir["r.html"]).Code);
        Assert.Equal(2, CliRunner.Run("report", "--plan", dir["none.json"], "--out", dir["r.txt"]).Code);
        Assert.Equal(2, CliRunner.Run("report", "--plan", dir["none.json"], "--eval", dir["t.txt"], "--out", dir["r.html"]).Code);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
