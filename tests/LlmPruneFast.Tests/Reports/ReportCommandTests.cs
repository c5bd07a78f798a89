using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
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

    /// <summary>
    /// The whole flow a user runs: prune stories260K with --report, then `report` from the plan alone (recapture and
    /// --eval). Both pages carry every per-layer chart and the measured figures.
    /// </summary>
    [SharedFact]
    public void PruneWithReport_ThenReportFromThePlan_BothShowEveryChart()
    {
        using var dir = new TempFolder();
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        using (tensors) LlamaCheckpointWriter.Write(dir["model"], config, tensors, SharedData.Stories260KTokenizer);
        var (calib, eval) = CorpusSplit.Halves(SharedData.TinyStories);
        File.WriteAllText(dir["calib.txt"], calib);
        File.WriteAllText(dir["eval.txt"], eval);

        var (code, output, err) = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--method", "mi-weighted",
            "--ratio", "0.2", "--samples", "1024", "--out", dir["pruned"], "--eval", dir["eval.txt"], "--eval-paragraphs", "4",
            "--report", dir["prune.html"], "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Contains("prune.html", output);
        AssertFullReport(dir["prune.html"], evaluated: true);

        (code, _, err) = CliRunner.Run("report", "--plan", Path.Combine(dir["pruned"], "pruning-plan.json"), "--eval", dir["eval.txt"],
            "--eval-paragraphs", "4", "--out", dir["again.html"], "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        AssertFullReport(dir["again.html"], evaluated: true);
        // Same plan, same recaptured activations, same seed: the MI statistics agree between the two pages.
        var first = ReportJson.Load(dir["prune.json"]);
        var second = ReportJson.Load(dir["again.json"]);
        Assert.Equal(first.Layers.Select(l => l.PairMi?.Counts.Sum()), second.Layers.Select(l => l.PairMi?.Counts.Sum()));
        Assert.Equal(first.Summary.Perplexity!.After!.Value, second.Summary.Perplexity!.After!.Value, 6);
    }

    private static void AssertFullReport(string html, bool evaluated)
    {
        var doc = HtmlReportRendererTests.ParseXhtml(File.ReadAllText(html));
        string Kind(System.Xml.Linq.XElement s) => (string?)s.Attribute("data-chart") ?? "";
        var charts = doc.Descendants("svg").Select(Kind).ToArray();
        Assert.Contains("kept-removed", charts);
        Assert.Equal(5, charts.Count(c => c == "mi-histogram"));
        Assert.Contains("heatmap", charts);
        Assert.Contains("scatter", charts);
        var report = ReportJson.Load(Path.ChangeExtension(html, ".json"));
        Assert.NotNull(report.Summary.LatencyMs);
        if (evaluated)
        {
            Assert.True(report.Summary.Perplexity!.After > report.Summary.Perplexity.Before);
            Assert.True(report.Summary.Kl!.After > 0);
        }
    }

    [SharedFact]
    public void PlanWhoseModelIsGone_IsMissingInput_AndNothingIsWritten()
    {
        using var dir = new TempFolder();
        PlanJson.Save(ReportSamples.Stories260KPlan, dir["plan.json"]); // records a model name that is no folder
        var (code, _, err) = CliRunner.Run("report", "--plan", dir["plan.json"], "--out", dir["r.html"]);
        Assert.Equal(5, code);
        Assert.Contains("error:", err);
        Assert.False(File.Exists(dir["r.html"]) || File.Exists(dir["r.json"]));
    }

    [Fact]
    public void BadArguments_ExitWithTheirCodes()
    {
        using var dir = new TempFolder();
        Assert.Equal(5, CliRunner.Run("report", "--plan", dir["none.json"], "--out", dir["r.html"]).Code);
        Assert.Equal(2, CliRunner.Run("report", "--plan", dir["none.json"], "--out", dir["r.txt"]).Code);
        Assert.Equal(5, CliRunner.Run("report", "--plan", dir["none.json"], "--eval", dir["t.txt"], "--out", dir["r.html"]).Code);
        Assert.Equal(2, CliRunner.Run("report", "--plan", dir["none.json"], "--eval-paragraphs", "3", "--out", dir["r.html"]).Code);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
