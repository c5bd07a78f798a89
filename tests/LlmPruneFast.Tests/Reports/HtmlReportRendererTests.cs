using System.Text;
using System.Xml;
using System.Xml.Linq;
using LlmPruneFast.Reports;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Reports;

/// <summary>The page as text: structure, charts, escaping, self-containment, determinism; and the JSON beside it.</summary>
public sealed class HtmlReportRendererTests
{
    /// <summary>Parses the page as XML (it is written in XHTML syntax); fails the test when it is not well-formed.</summary>
    internal static XDocument ParseXhtml(string html)
    {
        using var reader = XmlReader.Create(new StringReader(html), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader);
    }

    private static IEnumerable<XElement> Charts(XDocument doc, string kind) =>
        doc.Descendants("svg").Where(e => (string?)e.Attribute("data-chart") == kind);

    [SharedFact]
    public void Stories260KReport_IsWellFormedAndHasEveryChart()
    {
        var report = ReportSamples.Stories260K;
        var doc = ParseXhtml(HtmlReportRenderer.Render(report));
        int layers = report.Layers.Count;
        Assert.Equal(5, layers);
        Assert.Single(Charts(doc, "kept-removed"));
        Assert.Equal(layers, Charts(doc, "mi-histogram").Count());
        Assert.Equal(layers, Charts(doc, "heatmap").Count());
        Assert.True(report.Cards.Count >= 4, $"expected cards from the MI plan, found {report.Cards.Count}");
        Assert.Equal(report.Cards.Count, Charts(doc, "scatter").Count());
        Assert.Single(Charts(doc, "sweep-perplexity"));
        Assert.Single(Charts(doc, "sweep-kl"));
        foreach (var svg in doc.Descendants("svg"))
        {
            Assert.NotNull(svg.Element("title"));
            Assert.NotNull(svg.Attribute("viewBox"));
        }
        // Axis labels with units where the axis has a unit.
        foreach (var svg in Charts(doc, "mi-histogram"))
        {
            var texts = svg.Descendants("text").Select(t => t.Value).ToArray();
            Assert.Contains("I(z_i; z_j)  [nats]", texts);
            Assert.Contains("fraction of pairs", texts);
            Assert.Contains(texts, t => t.StartsWith("permutation null", StringComparison.Ordinal));
        }
        // Kept/removed bars: one kept and one removed bar per layer with the plan's counts in their tooltips.
        var bars = Charts(doc, "kept-removed").Single().Descendants("rect").Where(r => (string?)r.Attribute("class") == "removed").ToArray();
        Assert.Equal(layers + 1, bars.Length); // + legend swatch
        foreach (var l in report.Layers)
            Assert.Contains(bars, b => b.Element("title")?.Value.StartsWith($"layer {l.Index}: {l.Kept} kept, {l.Removed} removed of {l.Width}", StringComparison.Ordinal) == true);
        // Scatter: one circle per subsampled point.
        foreach (var (card, svg) in report.Cards.Zip(Charts(doc, "scatter")))
            Assert.Equal(card.X.Length, svg.Descendants("circle").Count());
        // Heatmap: k x k cells.
        foreach (var (l, svg) in report.Layers.Zip(Charts(doc, "heatmap")))
        {
            int k = l.Heatmap!.Neurons.Length;
            Assert.Equal(k * k, svg.Descendants("rect").Count(r => (string?)r.Attribute("class") is "cell" or "diag"));
        }
    }

    [SharedFact]
    public void Stories260KReport_HasSummaryProtocolAndNoExternalReference()
    {
        var report = ReportSamples.Stories260K;
        string html = HtmlReportRenderer.Render(report);
        Assert.Contains(HtmlText.Escape(HtmlReportRenderer.ProtocolText), html);
        Assert.Contains("This run: the first N = 20 paragraphs", html);
        Assert.Contains("mi-random-pairs", html);
        Assert.Contains("plugin (bins = 16", html);
        Assert.Contains("S = 2,048 sampled token positions", html);
        foreach (string forbidden in new[] { "http:", "https:", "//cdn", "<script", "<link", "<img", "<iframe", "src=", "@import", "url(" })
            Assert.DoesNotContain(forbidden, html, StringComparison.OrdinalIgnoreCase);
        // The title holds "<test sample>": escaped in the page, intact in the text a browser shows.
        Assert.Contains("&lt;test sample&gt;", html);
        Assert.Equal(report.Title, ParseXhtml(html).Descendants("h1").Single().Value);
    }

    [Fact]
    public void HostileText_IsEscapedEverywhere()
    {
        const string evil = "<script>alert('x')</script> & \"q\" \u0001";
        var report = HandMade.Report(evil);
        string html = HtmlReportRenderer.Render(report);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("\u0001", html, StringComparison.Ordinal);
        var doc = ParseXhtml(html);
        string expected = evil.Replace('\u0001', '\uFFFD');
        Assert.Equal(expected, doc.Descendants("h1").Single().Value);
        Assert.Contains(doc.Descendants("td"), td => td.Value == expected); // model, method reason...
        Assert.Contains(doc.Descendants("p"), p => p.Value == expected); // note
        var legend = doc.Descendants("svg").Where(s => (string?)s.Attribute("data-chart") == "sweep-kl").Single()
            .Descendants("text").Select(t => t.Value);
        Assert.Contains($"{expected} (none)", legend);
    }

    [Fact]
    public void Render_IsDeterministicAndJsonRoundTripsByteForByte()
    {
        var report = HandMade.Report("method");
        Assert.Equal(HtmlReportRenderer.Render(report), HtmlReportRenderer.Render(report));
        var bytes = ReportJson.Serialize(report);
        var again = ReportJson.Serialize(ReportJson.Parse(bytes));
        Assert.Equal(Encoding.UTF8.GetString(bytes), Encoding.UTF8.GetString(again));
        Assert.Contains("\"achieved_sparsity\": 0.25", Encoding.UTF8.GetString(bytes));
        Assert.Equal(HtmlReportRenderer.Render(report), HtmlReportRenderer.Render(ReportJson.Parse(bytes)));
    }

    [Fact]
    public void EmbeddedJson_ReadsBackFromTheHiddenPre()
    {
        var report = HandMade.Report("<b>&</b>");
        var doc = ParseXhtml(HtmlReportRenderer.Render(report, new HtmlRenderOptions { EmbedJson = true }));
        var pre = doc.Descendants("pre").Single(e => (string?)e.Attribute("id") == "report-data");
        Assert.Equal(Encoding.UTF8.GetString(ReportJson.Serialize(report)), pre.Value);
    }

    [Fact]
    public void Writer_WritesPageAndJsonBesideIt_AndRejectsBadPaths()
    {
        using var dir = new TempFolder();
        var report = HandMade.Report("m");
        string json = ReportWriter.Write(report, dir["out.html"]);
        Assert.Equal(dir["out.json"], json);
        Assert.Equal(ReportJson.Serialize(report), File.ReadAllBytes(json));
        Assert.Contains("out.json", File.ReadAllText(dir["out.html"]));
        Assert.Equal(new[] { "out.html", "out.json" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order().ToArray());
        Directory.CreateDirectory(dir["folder.html"]);
        Assert.Throws<OutputConflictException>(() => ReportWriter.Write(report, dir["folder.html"]));
        Assert.Throws<BadArgumentException>(() => ReportWriter.Write(report, dir["data.json"]));
        Assert.Throws<MissingInputException>(() => ReportWriter.Write(report, dir["missing/out.html"]));
    }

    [Fact]
    public void ParseRejectsAnotherVersionAndBrokenJson()
    {
        var text = Encoding.UTF8.GetString(ReportJson.Serialize(HandMade.Report("m"))).Replace("\"version\": 1", "\"version\": 9");
        Assert.Contains("version 9", Assert.Throws<BadModelFileException>(() => ReportJson.Parse(Encoding.UTF8.GetBytes(text), "r.json")).Message);
        Assert.Throws<BadModelFileException>(() => ReportJson.Parse("{ \"version\": "u8, "r.json"));
        Assert.Throws<BadDataException>(() => ReportJson.Serialize(HandMade.Report("m") with { Sweep = [new SweepPoint("a", 0.1, "none", double.NaN, 0)] }));
    }
}

/// <summary>A small hand-made report (no model): every section present, text fields set to a given string.</summary>
internal static class HandMade
{
    public static PruneReport Report(string text)
    {
        var edges = Enumerable.Range(0, 11).Select(i => i * 0.05).ToArray();
        var layer = new LayerReport
        {
            Index = 0, Width = 8, Kept = 6, Removed = 2, Samples = 100, SampledPairs = 28,
            PairMi = new ReportHistogram(edges, [3, 8, 6, 4, 3, 1, 1, 1, 0, 1]),
            NullMi = new ReportHistogram(edges, [20, 9, 1, 0, 0, 0, 0, 0, 0, 0]),
            NullPairs = 30, NullQuantile = 0.99, NullQuantileValue = 0.11, PairMiMedian = 0.09,
            Threshold = new MiThreshold(0.2, text),
            Heatmap = new MiHeatmap([3, 1, 5], [0, 0.4, 0.1, 0.4, 0, 0.2, 0.1, 0.2, 0], [true, false, false], text),
        };
        return new PruneReport
        {
            Title = text,
            Notes = [text],
            Summary = new ReportSummary
            {
                Model = text, Method = text, Compensation = "partner", Budget = "uniform", Sparsity = 0.25, AchievedSparsity = 0.25,
                FfnNeurons = new BeforeAfter(8, 6), Perplexity = new BeforeAfter(4.2, 5.1), Kl = new BeforeAfter(0, 0.12),
                Evaluation = new ReportEvaluation { Text = text, Kind = "windows", Window = 128, Stride = 128, Protocol = text },
                Stages = [new StageTime(text, 1.5)],
            },
            Layers = [layer],
            Cards = [new NeuronCard { Layer = 0, Neuron = 3, Partner = 1, Mi = 0.4, Score = 0.3, Reason = text, Samples = 100,
                X = [0.1f, -0.2f, 0.5f], Y = [0.2f, -0.1f, 0.4f] }],
            Sweep = [new SweepPoint(text, 0.1, "none", 5, 0.05), new SweepPoint(text, 0.3, "none", 9, 0.3)],
        };
    }
}
