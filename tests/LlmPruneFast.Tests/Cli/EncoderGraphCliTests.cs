using System.Text.Json;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;
using LlmPruneFast.Tests.Encoders;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Reports;

namespace LlmPruneFast.Tests.Cli;

/// <summary>One <c>prune --sts --report</c> run on MiniLM (from the NuGet cache), made once and shared by the tests below.</summary>
public sealed class EncoderGraphRun : IDisposable
{
    private readonly Lazy<TempFolder> _dir = new(Make);

    public TempFolder Dir => _dir.Value;
    public string Out => Dir["pruned"];
    public string Plan => Path.Combine(Out, "pruning-plan.json");
    public JsonElement Json => JsonDocument.Parse(File.ReadAllText(Dir["prune.out"]).TrimEnd().Split('\n')[^1]).RootElement;

    private static TempFolder Make()
    {
        var dir = new TempFolder();
        File.WriteAllLines(dir["pairs.csv"], EncoderPruneCliTests.PairLines);
        // flap compensates with a bias: apply must recapture the same activations to write the same bytes.
        var (code, output, err) = CliRunner.Run("prune", "--model", MiniLm.Folder, "--calib", EncoderPruneCliTests.Calibration, "--samples", "512",
            "--method", "flap", "--ratio", "0.3", "--sts", dir["pairs.csv"], "--out", dir["pruned"], "--report", dir["prune.html"],
            "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        File.WriteAllText(dir["prune.out"], output);
        return dir;
    }

    public void Dispose()
    {
        if (_dir.IsValueCreated) _dir.Value.Dispose();
    }
}

/// <summary>prune --report, report and apply on the MiniLM encoder (issue 8), run as a user runs them.</summary>
public sealed class EncoderGraphCliTests(EncoderGraphRun run) : IClassFixture<EncoderGraphRun>
{
    /// <summary>The encoder's report carries the plan's layers, fidelity and STS as prune printed them, and no perplexity.</summary>
    [Fact]
    public void PruneReport_OnAnEncoder_ShowsFidelityStsAndThePlan()
    {
        var json = run.Json;
        var plan = PlanJson.Load(run.Plan);
        var report = ReportJson.Load(run.Dir["prune.json"]);
        var s = report.Summary;
        Assert.True(s.Encoder);
        Assert.Contains("sentence encoder", s.Architecture);
        Assert.Equal(plan.Model.Widths, report.Layers.Select(l => l.Width));
        Assert.All(report.Layers, l => Assert.Equal(461, l.Removed));
        Assert.Equal(json.GetProperty("fidelity").GetDouble(), s.Fidelity!.MeanCosine);
        Assert.Equal(json.GetProperty("fidelity_min").GetDouble(), s.Fidelity.MinCosine);
        Assert.Equal(json.GetProperty("fidelity_sentences").GetInt32(), s.Fidelity.Sentences);
        Assert.Equal(json.GetProperty("sts_before").GetDouble(), s.Sts!.Before);
        Assert.Equal(json.GetProperty("sts_after").GetDouble(), s.Sts.After);
        Assert.Equal(6, s.Sts.Pairs);
        Assert.Equal(22_713_216, s.Parameters!.Before);
        Assert.Equal(json.GetProperty("params_after").GetInt64(), (long)s.Parameters.After!.Value);
        Assert.NotNull(s.LatencyMs);
        Assert.Null(s.Perplexity);
        string html = File.ReadAllText(run.Dir["prune.html"]);
        Assert.Contains(HtmlText.Escape(HtmlReportRenderer.EncoderProtocolText), html);
        Assert.DoesNotContain("Perplexity", html);
        var charts = HtmlReportRendererTests.ParseXhtml(html).Descendants("svg").Select(x => (string?)x.Attribute("data-chart") ?? "").ToArray();
        Assert.Equal(6, charts.Count(c => c == "mi-histogram"));
    }

    /// <summary><c>apply</c> on the encoder writes prune's model.onnx byte for byte, and copies the vocabulary.</summary>
    [Fact]
    public void Apply_OnAnEncoder_WritesTheSameBytesAsPrune()
    {
        string outDir = run.Dir[$"applied-{Guid.NewGuid():N}"];
        var (code, _, err) = CliRunner.Run("apply", "--plan", run.Plan, "--model", MiniLm.Folder, "--out", outDir, "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(run.Out, "model.onnx")), File.ReadAllBytes(Path.Combine(outDir, "model.onnx")));
        Assert.True(File.Exists(Path.Combine(outDir, "vocab.txt")));
    }

    /// <summary><c>report</c> from the encoder plan alone recaptures the same activations: the same MI statistics per layer.</summary>
    [Fact]
    public void ReportVerb_OnAnEncoderPlan_AgreesWithPrunesReport()
    {
        string html = run.Dir[$"again-{Guid.NewGuid():N}.html"];
        var (code, _, err) = CliRunner.Run("report", "--plan", run.Plan, "--out", html, "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        var first = ReportJson.Load(run.Dir["prune.json"]);
        var again = ReportJson.Load(Path.ChangeExtension(html, ".json"));
        Assert.True(again.Summary.Encoder);
        Assert.Equal(first.Layers.Select(l => l.PairMi?.Counts), again.Layers.Select(l => l.PairMi?.Counts));
        Assert.Equal(first.Layers.Select(l => l.Heatmap?.Neurons), again.Layers.Select(l => l.Heatmap?.Neurons));
    }
}
