using System.Globalization;
using System.Text;
using LlmPruneFast.Reports;
using static LlmPruneFast.Reports.HtmlText;

namespace LlmPruneFast.Study;

/// <summary>
/// The study's chart and page, drawn with the report's SVG code (<see cref="SvgChart"/>, <see cref="Scale"/>,
/// <see cref="HtmlCharts.Sweep"/>) and styled with the report's style sheet: sensitivity.svg (standalone: its own
/// xmlns and style) and study.html (self-contained: inline CSS and SVG, no script, no URL).
/// </summary>
public static class StudyPage
{
    /// <summary>
    /// SD of d_k across criteria against model parameters: one line per (sparsity, compensation setting) through the
    /// models in order of size; filled markers = pretrained models, hollow = constructed or unstated. Linear x axis
    /// unless the sizes span more than a factor of 10 (then base-10 log).
    /// </summary>
    internal static string SensitivityChart(IReadOnlyList<SensitivityRow> rows, string id = "chart-sensitivity", string family = StudyFamily.Decoder)
    {
        var c = new SvgChart(id, "sensitivity", family == StudyFamily.Encoder ? "Encoders: sensitivity to the pruning criterion against model size"
            : "Sensitivity to the pruning criterion against model size", 760, ChartHeight, 74, 34, 236, 50);
        string unit = family == StudyFamily.Encoder ? "" : " nats";
        var points = rows.Where(r => r.Family == family && double.IsFinite(r.StdD)).ToArray();
        if (points.Length == 0) return c.ToString();
        double pmin = points.Min(p => p.Model.Parameters), pmax = points.Max(p => p.Model.Parameters);
        bool log = pmax / pmin > 10;
        var (xlo, xhi) = log ? Scale.LogRange(pmin, pmax) : Scale.NiceRange(pmin - (pmax - pmin) * 0.05 - 1, pmax + (pmax - pmin) * 0.05 + 1);
        var x = new Scale(xlo, xhi, c.Left, c.Right, log);
        var (_, yhi) = Scale.NiceRange(0, Math.Max(1e-9, points.Max(p => p.StdD)));
        var y = new Scale(0, yhi, c.Bottom, c.Top);
        c.YAxis(y, StudyFamily.SpreadLabel(family), v => v.ToString("0.####", CultureInfo.InvariantCulture));
        c.XAxis(x, log ? "parameters (log scale)" : "parameters  [count]", v => Count(v));
        c.LegendLeft = c.Right + 16;
        var series = points.GroupBy(p => (p.Ratio, p.CompensationSetting)).OrderBy(g => g.Key.CompensationSetting, StringComparer.Ordinal).ThenBy(g => g.Key.Ratio).ToArray();
        for (int s = 0; s < series.Length; s++)
        {
            string colour = HtmlCharts.Palette[s % HtmlCharts.Palette.Length];
            string dash = s >= HtmlCharts.Palette.Length ? ";stroke-dasharray:5 3" : "";
            var pts = series[s].OrderBy(p => p.Model.Parameters).ToArray();
            c.Path(pts.Select(p => (x[p.Model.Parameters], y[p.StdD])), "series", $"stroke:{colour}{dash}");
            foreach (var p in pts)
            {
                bool pretrained = p.Model.Provenance == Provenance.Pretrained;
                c.Circle(x[p.Model.Parameters], y[p.StdD], 4, "mk", pretrained ? $"fill:{colour}" : $"fill:#fff;stroke:{colour};stroke-width:2",
                    $"{p.Model.Name} ({p.Model.Provenance}, {Count(p.Model.Parameters)} parameters), sparsity {Percent(p.Ratio)}, compensation {p.CompensationSetting}: " +
                    $"SD {Number(p.StdD)}{unit}, max/min {Number(p.MaxOverMin)} over {p.Criteria} criteria");
            }
            c.Legend($"{StudyTables.Percent(series[s].Key.Ratio)} sparsity, {series[s].Key.CompensationSetting}", "series", "line", $"stroke:{colour}{dash}");
        }
        c.Legend("filled: pretrained", "mk", "rect", "fill:#444");
        c.Legend("hollow: constructed", "mk", "rect", "fill:#fff;stroke:#444;stroke-width:1.5");
        // Model names under the points of the first series, so a reader can tell which size is which model.
        foreach (var m in points.GroupBy(p => p.Model.Name).Select(g => g.First()))
            c.Text(x[m.Model.Parameters], c.Top + 12, m.Model.Name, "tl", "middle");
        return c.ToString();
    }

    private const int ChartHeight = 360;

    /// <summary>
    /// The sensitivity chart as a standalone SVG file: xmlns added, the report's SVG styles embedded. With both
    /// families, one chart per family stacked in one file (their y axes are different measures, never one axis).
    /// </summary>
    public static string SensitivitySvg(IReadOnlyList<SensitivityRow> rows)
    {
        var families = StudyFamily.All.Where(f => rows.Any(r => r.Family == f)).DefaultIfEmpty(StudyFamily.Decoder).ToArray();
        string style = string.Join("\n", HtmlReportRenderer.Css.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("svg", StringComparison.Ordinal))
            .Select(l => l.Replace("svg.chart", ".chart").Replace("svg .", ".")));
        const string head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        if (families.Length == 1)
        {
            string svg = SensitivityChart(rows, family: families[0]);
            int close = svg.IndexOf('>');
            return head + svg[..4] + " xmlns=\"http://www.w3.org/2000/svg\"" + svg[4..(close + 1)] +
                   $"<style>{style}</style>" + svg[(close + 1)..] + "\n";
        }
        var sb = new StringBuilder(head);
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"{ChartHeight * families.Length}\" viewBox=\"0 0 760 {ChartHeight * families.Length}\"><style>{style}</style>");
        for (int i = 0; i < families.Length; i++)
        {
            string svg = SensitivityChart(rows, $"chart-sensitivity-{families[i]}", families[i]);
            sb.Append(svg[..4]).Append($" y=\"{ChartHeight * i}\"").Append(svg[4..]);
        }
        return sb.Append("</svg>\n").ToString();
    }

    /// <summary>study.html: setup, models, sensitivity chart and table, per-model perplexity sweeps, and every run.</summary>
    public static string Html(StudyResult result, string? command = null)
    {
        var q = result.Request;
        var h = new StringBuilder(64 * 1024);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
         .Append($"<title>Small-vs-large study</title>\n<style>{HtmlReportRenderer.Css}</style>\n</head>\n<body>\n<main>\n<h1>Small-vs-large study</h1>\n");
        if (result.Models.Any(m => m.Model.Provenance != Provenance.Pretrained))
            h.Append("<p class=\"note\">Models marked <b>constructed</b> were built from another model by the construction in their description; " +
                     "they are not pretrained models of their size, and results on them say nothing directly about pretrained models of that size.</p>\n");
        h.Append("<section id=\"setup\">\n<h2>Setup</h2>\n<table class=\"kv\">\n");
        Row(h, "Methods", string.Join(", ", q.Methods));
        Row(h, "FFN sparsities", string.Join(", ", q.Ratios.Select(StudyTables.Percent)));
        Row(h, "Compensation", string.Join(", ", q.Compensations));
        Row(h, "Calibration", $"{q.CalibrationText}: S = {Count(q.Samples)} sampled token positions in {q.LayoutText}, seed {q.Seed}");
        Row(h, "Evaluation", $"{q.EvaluationText}: {(q.EvalParagraphs is int n ? $"first {n}" : "all")} paragraphs, reference protocol" +
            (result.Families.Contains(StudyFamily.Encoder) ? "; encoders: fidelity on its lines (one sentence per line)" : ""));
        if (q.StsText != null) Row(h, "STS pairs (encoders)", q.StsText);
        if (command != null) Row(h, "Command", command);
        Row(h, "Total time", $"{result.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        h.Append("</table>\n<p>").Append(Escape(HtmlReportRenderer.ProtocolText)).Append("</p>\n</section>\n");

        h.Append($"<section id=\"scope\">\n<h2>{Escape(StudyScope.Heading)}</h2>\n");
        foreach (var line in StudyScope.Statements(result.Models.Select(m => m.Model).ToArray())) h.Append("<p>").Append(Escape(line)).Append("</p>\n");
        h.Append("</section>\n");

        h.Append("<section id=\"models\">\n<h2>Models</h2>\n<table class=\"cmp\">\n<thead><tr><th>model</th><th>family</th><th>format</th><th>provenance</th><th>parameters</th><th>layers</th><th>hidden</th><th>FFN width</th><th>dense perplexity</th><th>dense STS</th><th>description</th></tr></thead>\n<tbody>\n");
        foreach (var m in result.Models)
        {
            bool enc = m.Model.Family == StudyFamily.Encoder;
            h.Append($"<tr><td>{Escape(m.Model.Name)}</td><td>{Escape(m.Model.Family)}</td><td>{Escape(m.Model.Format)}</td><td>{Escape(m.Model.Provenance)}</td><td>{Count(m.Model.Parameters)}</td><td>{m.Model.Layers}</td><td>{m.Model.Hidden}</td>")
             .Append($"<td>{Escape(m.Model.FfnWidth)}</td><td>{(enc ? "" : Number(m.DensePerplexity))}</td><td>{(enc && !double.IsNaN(m.DenseSts) ? Number(m.DenseSts) : "")}</td><td>{Escape(m.Model.Description)}</td></tr>\n");
        }
        h.Append("</tbody>\n</table>\n</section>\n");

        foreach (var family in result.Families)
        {
            bool enc = family == StudyFamily.Encoder;
            string d = enc ? "d = 1 - fidelity" : "d [nats]";
            h.Append($"<section id=\"sensitivity-{family}\">\n<h2>Sensitivity{(result.Families.Count > 1 ? " of " + StudyFamily.Plural(family) : "")}</h2>\n<p>")
             .Append(Escape(Sensitivity.DefinitionOf(family))).Append("</p>\n<figure>")
             .Append(SensitivityChart(result.Sensitivity, family == StudyFamily.Decoder ? "chart-sensitivity" : $"chart-sensitivity-{family}", family)).Append("</figure>\n");
            h.Append($"<table class=\"cmp\">\n<thead><tr><th>model</th><th>provenance</th><th>sparsity</th><th>compensation</th><th>criteria</th><th>mean {d}</th><th>min {d} (method)</th><th>max {d} (method)</th><th>max/min</th><th>SD of {d}</th></tr></thead>\n<tbody>\n");
            foreach (var s in result.Sensitivity.Where(s => s.Family == family))
                h.Append($"<tr><td>{Escape(s.Model.Name)}</td><td>{Escape(s.Model.Provenance)}</td><td>{StudyTables.Percent(s.Ratio)}</td><td>{Escape(s.CompensationSetting)}</td><td>{s.Criteria}</td>")
                 .Append($"<td>{Number(s.MeanD)}</td><td>{Number(s.MinD)} ({Escape(s.MinMethod)})</td><td>{Number(s.MaxD)} ({Escape(s.MaxMethod)})</td>")
                 .Append($"<td>{Number(s.MaxOverMin)}</td><td>{Number(s.StdD)}</td></tr>\n");
            h.Append("</tbody>\n</table>\n</section>\n");
        }

        if (result.Families.Contains(StudyFamily.Decoder))
        {
            h.Append("<section id=\"sweeps\">\n<h2>Perplexity against sparsity, per decoder</h2>\n<div class=\"grid\">\n");
            for (int i = 0; i < result.Models.Count; i++)
            {
                var name = result.Models[i].Model.Name;
                var sweep = result.Rows.Where(r => r.Model.Name == name && r.Family == StudyFamily.Decoder)
                    .Select(r => new SweepPoint(r.Method, r.Ratio, r.CompensationSetting, r.PerplexityAfter, r.Kl)).ToArray();
                if (sweep.Length == 0) continue;
                h.Append("<figure>").Append(HtmlCharts.Sweep(sweep, "perplexity", $"chart-sweep-{i}"))
                 .Append($"<figcaption>{Escape($"{name} ({result.Models[i].Model.Provenance}); dense perplexity {Number(result.Models[i].DensePerplexity)}.")}</figcaption></figure>\n");
            }
            h.Append("</div>\n</section>\n");
        }

        if (result.Families.Contains(StudyFamily.Encoder))
        {
            h.Append("<section id=\"sweeps-encoder\">\n<h2>Fidelity against sparsity, per encoder</h2>\n<div class=\"grid\">\n");
            for (int i = 0; i < result.Models.Count; i++)
            {
                var name = result.Models[i].Model.Name;
                var sweep = result.Rows.Where(r => r.Model.Name == name && r.Family == StudyFamily.Encoder && double.IsFinite(r.Fidelity))
                    .Select(r => (r.Method, r.CompensationSetting, r.Ratio, r.Fidelity, r.StsAfter)).ToArray();
                if (sweep.Length == 0) continue;
                h.Append("<figure>").Append(HtmlCharts.FidelitySweep(sweep, $"chart-fidelity-{i}"))
                 .Append($"<figcaption>{Escape($"{name} ({result.Models[i].Model.Provenance}); fidelity is the mean cosine of pruned to dense sentence embeddings (dense = 1).")}</figcaption></figure>\n");
            }
            h.Append("</div>\n</section>\n");
        }

        if (result.Families.Contains(StudyFamily.Decoder))
        {
            h.Append($"<section id=\"runs\">\n<h2>Every run{(result.Families.Count > 1 ? " of a decoder" : "")}</h2>\n<table class=\"cmp\">\n<thead><tr><th>model</th><th>method</th><th>sparsity</th><th>compensation</th><th>perplexity before</th><th>after</th><th>change</th><th>relative</th><th>d [nats]</th><th>KL [nats/token]</th><th>top-1</th><th>parameters after</th><th>seconds</th></tr></thead>\n<tbody>\n");
            foreach (var r in result.Rows.Where(r => r.Family == StudyFamily.Decoder))
                h.Append($"<tr><td>{Escape(r.Model.Name)}</td><td>{Escape(r.Method)}</td><td>{StudyTables.Percent(r.Ratio)}</td><td>{Escape(r.Compensation)}</td>")
                 .Append($"<td>{Number(r.PerplexityBefore)}</td><td>{Number(r.PerplexityAfter)}</td><td>{Number(r.DeltaPerplexity)}</td><td>{Percent(r.RelativeDeltaPerplexity)}</td>")
                 .Append($"<td>{Number(r.DeltaNll)}</td><td>{Number(r.Kl)}</td><td>{Percent(r.Top1Agreement)}</td><td>{Count(r.ParamsAfter)}</td><td>{r.Seconds.ToString("0.00", CultureInfo.InvariantCulture)}</td></tr>\n");
            h.Append("</tbody>\n</table>\n</section>\n");
        }
        if (result.Families.Contains(StudyFamily.Encoder))
        {
            h.Append("<section id=\"runs-encoder\">\n<h2>Every run of an encoder</h2>\n<table class=\"cmp\">\n<thead><tr><th>model</th><th>method</th><th>sparsity</th><th>compensation</th><th>fidelity</th><th>min cosine</th><th>d = 1 - fidelity</th><th>STS before</th><th>STS after</th><th>change</th><th>parameters after</th><th>seconds</th></tr></thead>\n<tbody>\n");
            foreach (var r in result.Rows.Where(r => r.Family == StudyFamily.Encoder))
                h.Append($"<tr><td>{Escape(r.Model.Name)}</td><td>{Escape(r.Method)}</td><td>{StudyTables.Percent(r.Ratio)}</td><td>{Escape(r.Compensation)}</td>")
                 .Append($"<td>{Number(r.Fidelity)}</td><td>{Number(r.FidelityMin)}</td><td>{Number(r.CosineDistance)}</td><td>{Number(r.StsBefore)}</td><td>{Number(r.StsAfter)}</td><td>{Number(r.DeltaSts)}</td>")
                 .Append($"<td>{Count(r.ParamsAfter)}</td><td>{r.Seconds.ToString("0.00", CultureInfo.InvariantCulture)}</td></tr>\n");
            h.Append("</tbody>\n</table>\n</section>\n");
        }
        h.Append("<footer>Written by llmprune study (LlmPruneFast). The same numbers are in results.csv and study.json beside this page.</footer>\n</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void Row(StringBuilder h, string key, string value) =>
        h.Append($"<tr><th>{Escape(key)}</th><td>{Escape(value)}</td></tr>\n");
}
