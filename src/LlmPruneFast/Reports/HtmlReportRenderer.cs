using System.Globalization;
using System.Text;
using static LlmPruneFast.Reports.HtmlText;

namespace LlmPruneFast.Reports;

/// <summary>How <see cref="HtmlReportRenderer"/> writes the page.</summary>
public sealed record HtmlRenderOptions
{
    /// <summary>Also embed the report JSON in the page, in a hidden &lt;pre id="report-data"&gt; (HTML-escaped, no script).</summary>
    public bool EmbedJson { get; init; }
    /// <summary>File name of the JSON written beside the page, mentioned in the footer (null: not mentioned).</summary>
    public string? JsonFileName { get; init; }
}

/// <summary>
/// Renders a <see cref="PruneReport"/> as one self-contained HTML page: inline CSS, inline SVG charts
/// (<see cref="HtmlCharts"/>), no script, no URL of any kind (nothing is fetched, even offline). All text from the
/// report is escaped; the page is well-formed XML (XHTML syntax with an HTML5 doctype), so it can be checked by an
/// XML parser. Deterministic: the same report gives the same bytes.
/// </summary>
public static class HtmlReportRenderer
{
    /// <summary>METHOD.md's evaluation protocol, written into every report.</summary>
    public const string ProtocolText =
        "Perplexity, reference protocol: the text is split on blank lines, each paragraph stripped, empty ones dropped, " +
        "the first N kept; each is encoded with BOS and the SentencePiece dummy-prefix space and truncated to the model's " +
        "sequence length; perplexity = exp(mean natural-log NLL of every next token). Also supported: contiguous windows " +
        "of W tokens with stride T over the text encoded once. Fidelity without labels: mean KL(original || pruned) per " +
        "token, in nats, and top-1 agreement with the original model, on the same evaluation tokens. Cost: parameters, " +
        "file size, and ONNX Runtime latency and tokens/s, dense and pruned measured in the same run on the same machine. " +
        "Calibration and evaluation text never overlap.";

    /// <summary>The protocol written into the report of a sentence encoder (issue 8: fidelity without labels, and STS).</summary>
    public const string EncoderProtocolText =
        "Sentence encoders have no next-token distribution, so no perplexity or KL. Each sentence is tokenized with the " +
        "model's WordPiece vocabulary ([CLS] pieces [SEP], truncated to the model's maximum length) and embedded by the " +
        "model's pooling (mean over the attention mask, or the first token). Fidelity without labels: the cosine between " +
        "the pruned and the dense embedding of the same sentence, mean and minimum over the sentences (1 = unchanged). " +
        "STS: Spearman's rank correlation x 100 between the cosine similarity of each pair's embeddings and its gold score. " +
        "Cost: parameters, file size, and ONNX Runtime latency and tokens/s, dense and pruned measured in the same run on " +
        "the same machine. Calibration and evaluation sentences should not overlap (prune says so when they are the same file).";

    public static string Render(PruneReport report, HtmlRenderOptions? options = null)
    {
        options ??= new HtmlRenderOptions();
        var h = new StringBuilder(64 * 1024);
        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
         .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
         .Append(ReportWriter.GeneratorMeta).Append('\n') // marks the page as ours, so a later run may replace it
         .Append($"<title>{Escape(report.Title)}</title>\n<style>{Css}</style>\n</head>\n<body>\n<main>\n");
        h.Append($"<h1>{Escape(report.Title)}</h1>\n");
        foreach (var note in report.Notes) h.Append($"<p class=\"note\">{Escape(note)}</p>\n");
        h.Append("<nav><a href=\"#summary\">Summary</a> · <a href=\"#layers\">Layers</a> · <a href=\"#mi\">Pair MI</a> · ")
         .Append("<a href=\"#heatmaps\">Heatmaps</a> · <a href=\"#cards\">Removed neurons</a>")
         .Append(report.Sweep.Count > 0 ? " · <a href=\"#sweep\">Sweep</a>" : "").Append("</nav>\n");
        Summary(h, report.Summary);
        Layers(h, report);
        Cards(h, report.Cards);
        if (report.Sweep.Count > 0) Sweep(h, report.Sweep);
        h.Append("<footer>Written by llmprune (LlmPruneFast). Every number on this page is in the report data");
        if (options.JsonFileName != null) h.Append($" file <code>{Escape(options.JsonFileName)}</code> beside it");
        h.Append(".</footer>\n");
        if (options.EmbedJson)
            h.Append("<pre id=\"report-data\" hidden=\"hidden\">").Append(Escape(Encoding.UTF8.GetString(ReportJson.Serialize(report)))).Append("</pre>\n");
        h.Append("</main>\n</body>\n</html>\n");
        return h.ToString();
    }

    private static void Summary(StringBuilder h, ReportSummary s)
    {
        h.Append("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n");
        Row(h, "Model", s.Model);
        if (s.Architecture != null) Row(h, "Architecture", s.Architecture);
        Row(h, "Method", s.Method + Params(s.MethodParameters));
        Row(h, "MI estimator", s.Estimator == null ? "none (the method uses no MI)" : s.Estimator + Params(s.EstimatorParameters));
        Row(h, "Compensation", s.Compensation);
        Row(h, "Budget", s.Budget);
        Row(h, "Seed", s.Seed.ToString(CultureInfo.InvariantCulture));
        Row(h, "Calibration", s.Calibration is { } c
            ? $"{c.Text}: S = {Count(c.Tokens)} sampled token positions, sampling seed {c.Seed}" : "not recorded in the plan");
        if (s.Encoder == true)
        {
            Row(h, "Fidelity sentences", s.Fidelity is { } f ? $"{f.Text}: {Count(f.Sentences)} sentences" : "not run (no --eval or --sts)");
            Row(h, "STS pairs", s.Sts is { } st ? $"{st.Text}: {Count(st.Pairs)} pairs" : "not run (no --sts)");
        }
        else Row(h, "Evaluation", s.Evaluation is { } e ? $"{e.Text}: {e.Protocol}" : "not run (no --eval)");
        Row(h, "FFN sparsity", $"target {Percent(s.Sparsity)}, achieved {Percent(s.AchievedSparsity)}");
        h.Append("</table>\n<h3>Dense vs pruned</h3>\n<table class=\"cmp\">\n<thead><tr><th>quantity</th><th>unit</th><th>dense</th><th>pruned</th><th>pruned / dense</th></tr></thead>\n<tbody>\n");
        Compare(h, "FFN neurons", "count", s.FfnNeurons, Count);
        Compare(h, "Parameters", "count", s.Parameters, Count);
        Compare(h, "Weight files", "bytes", s.Bytes, Bytes);
        Compare(h, "Latency", "ms per forward pass", s.LatencyMs, Number);
        Compare(h, "Throughput", "tokens/s", s.TokensPerSecond, Number);
        if (s.Encoder != true) // an encoder has no next-token distribution: these rows would only say "not measured"
        {
            Compare(h, "Perplexity", "exp(nats/token)", s.Perplexity, Number);
            Compare(h, "KL(original || model)", "nats/token", s.Kl, Number);
        }
        if (s.Top1Agreement is double agree)
            h.Append($"<tr><td>Top-1 agreement with the original</td><td>fraction of positions</td><td>100%</td><td>{Percent(agree)}</td><td></td></tr>\n");
        if (s.Fidelity is { } fid)
            h.Append($"<tr><td>Embedding cosine to the original</td><td>mean (min) over sentences</td><td>1</td><td>{Escape($"{Number(fid.MeanCosine)} ({Number(fid.MinCosine)})")}</td><td></td></tr>\n");
        if (s.Sts is { } sts) Compare(h, "STS Spearman", "x 100", new BeforeAfter(sts.Before, sts.After), Number);
        h.Append("</tbody>\n</table>\n");
        if (s.LatencyProtocol != null) h.Append($"<p class=\"small\">Latency: {Escape(s.LatencyProtocol)}</p>\n");
        h.Append($"<h3>Evaluation protocol</h3>\n<p>{Escape(s.Encoder == true ? EncoderProtocolText : ProtocolText)}</p>\n");
        if (s.Evaluation is { } ev)
        {
            string detail = ev.Kind == "windows"
                ? $"This run: windows of W = {ev.Window} tokens with stride T = {ev.Stride}"
                : $"This run: the first N = {ev.Paragraphs} paragraphs";
            h.Append($"<p>{Escape(detail + (ev.Tokens is long t ? $", {Count(t)} scored tokens" : "") + $", text {ev.Text}.")}</p>\n");
        }
        if (s.Stages.Count > 0)
        {
            h.Append("<h3>Time per stage</h3>\n<table class=\"cmp\">\n<thead><tr><th>stage</th><th>seconds</th><th>device</th></tr></thead>\n<tbody>\n");
            foreach (var st in s.Stages) h.Append($"<tr><td>{Escape(st.Stage)}</td><td>{Escape(st.Seconds.ToString("0.00", CultureInfo.InvariantCulture))}</td><td>{Escape(st.Device ?? "")}</td></tr>\n");
            h.Append($"<tr><td>total</td><td>{Escape(s.Stages.Sum(x => x.Seconds).ToString("0.00", CultureInfo.InvariantCulture))}</td><td></td></tr>\n</tbody>\n</table>\n");
        }
        h.Append("</section>\n");
    }

    private static void Layers(StringBuilder h, PruneReport r)
    {
        h.Append("<section id=\"layers\">\n<h2>Kept and removed neurons per layer</h2>\n");
        if (r.Layers.Count > 0) h.Append("<figure>").Append(HtmlCharts.KeptRemoved(r.Layers, "chart-kept-removed")).Append("</figure>\n");
        h.Append("</section>\n<section id=\"mi\">\n<h2>Pair MI per layer</h2>\n")
         .Append("<p>Distribution of the mutual information of sampled neuron pairs (bars) against the permutation null: " +
                 "the same estimator on pairs whose second column's rows were shuffled, i.e. on independent variables with the " +
                 "same marginals (outline). Pairs far right of the null are dependent; the red line is the threshold the method " +
                 "used, where it has one.</p>\n<div class=\"grid\">\n");
        foreach (var l in r.Layers.Where(l => l.PairMi != null))
        {
            h.Append("<figure>").Append(HtmlCharts.MiHistogram(l, $"chart-mi-{l.Index}"));
            var cap = new StringBuilder($"S = {Count(l.Samples)} positions; median pair MI {Number(l.PairMiMedian ?? double.NaN)} nats");
            if (l.Threshold is { } t) cap.Append($"; threshold from {t.Source}");
            h.Append($"<figcaption>{Escape(cap.ToString())}.</figcaption></figure>\n");
        }
        h.Append("</div>\n");
        if (r.Layers.All(l => l.PairMi == null)) h.Append("<p>No calibration activations were given: per-layer MI is not shown.</p>\n");
        h.Append("</section>\n<section id=\"heatmaps\">\n<h2>MI heatmaps of the most redundant neurons</h2>\n<div class=\"grid\">\n");
        foreach (var l in r.Layers.Where(l => l.Heatmap != null))
            h.Append("<figure>").Append(HtmlCharts.Heatmap(l.Index, l.Heatmap!, $"chart-heatmap-{l.Index}"))
             .Append($"<figcaption>{Escape(l.Heatmap!.Selection)}.</figcaption></figure>\n");
        h.Append("</div>\n</section>\n");
    }

    private static void Cards(StringBuilder h, IReadOnlyList<NeuronCard> cards)
    {
        h.Append("<section id=\"cards\">\n<h2>Most redundant removed neurons</h2>\n");
        if (cards.Count == 0)
        {
            h.Append("<p>The plan names no partner for its removed neurons (the method does not use redundancy), so there is no card.</p>\n</section>\n");
            return;
        }
        h.Append("<p>The removed neurons of highest MI with their partner, the kept neuron that carries their information. " +
                 "The scatter shows both activations on a random subsample of calibration positions.</p>\n<div class=\"grid\">\n");
        foreach (var c in cards)
        {
            h.Append($"<article class=\"card\" id=\"card-{c.Layer}-{c.Neuron}\">\n<h3>Layer {c.Layer}, neuron {c.Neuron} → partner {c.Partner}</h3>\n<table class=\"kv\">\n");
            Row(h, "MI (plan)", c.Mi is double mi ? $"{Number(mi)} nats" : "not recorded");
            Row(h, "MI (re-estimated)", c.ReportMi is double rm ? $"{Number(rm)} nats on S = {Count(c.Samples)}" : "n/a");
            Row(h, "Correlation", c.Correlation is double r ? Number(r) : "n/a");
            Row(h, "Std of z", $"{Number(c.StdNeuron ?? double.NaN)} (neuron), {Number(c.StdPartner ?? double.NaN)} (partner)");
            Row(h, "Score", $"{Number(c.Score)} (removed #{c.RemovalRank + 1} in its layer)");
            Row(h, "Reason", c.Reason);
            h.Append("</table>\n");
            if (c.X.Length > 0)
                h.Append("<figure>").Append(HtmlCharts.Scatter(c, $"chart-scatter-{c.Layer}-{c.Neuron}"))
                 .Append($"<figcaption>{Escape($"{c.X.Length} of {Count(c.Samples)} calibration positions")}.</figcaption></figure>\n");
            else h.Append("<p class=\"small\">No calibration activations for this layer: no scatter.</p>\n");
            h.Append("</article>\n");
        }
        h.Append("</div>\n</section>\n");
    }

    private static void Sweep(StringBuilder h, IReadOnlyList<SweepPoint> sweep)
    {
        h.Append("<section id=\"sweep\">\n<h2>Sparsity sweep</h2>\n<figure>").Append(HtmlCharts.Sweep(sweep, "perplexity", "chart-sweep-perplexity"))
         .Append("</figure>\n<figure>").Append(HtmlCharts.Sweep(sweep, "kl", "chart-sweep-kl")).Append("</figure>\n")
         .Append("<table class=\"cmp\">\n<thead><tr><th>method</th><th>compensation</th><th>FFN sparsity</th><th>perplexity</th><th>KL [nats/token]</th></tr></thead>\n<tbody>\n");
        foreach (var p in sweep.OrderBy(p => p.Method, StringComparer.Ordinal).ThenBy(p => p.Compensation, StringComparer.Ordinal).ThenBy(p => p.Sparsity))
            h.Append($"<tr><td>{Escape(p.Method)}</td><td>{Escape(p.Compensation)}</td><td>{Percent(p.Sparsity)}</td><td>{Number(p.Perplexity)}</td><td>{Number(p.Kl)}</td></tr>\n");
        h.Append("</tbody>\n</table>\n</section>\n");
    }

    private static void Row(StringBuilder h, string key, string value) =>
        h.Append($"<tr><th>{Escape(key)}</th><td>{Escape(value)}</td></tr>\n");

    private static void Compare(StringBuilder h, string name, string unit, BeforeAfter? v, Func<double, string> format)
    {
        string F(double? x) => x is double d ? format(d) : "not measured";
        string ratio = v is { Before: double b, After: double a } && b != 0 ? (a / b).ToString("0.000", CultureInfo.InvariantCulture) : "";
        h.Append($"<tr><td>{Escape(name)}</td><td>{Escape(unit)}</td><td>{Escape(F(v?.Before))}</td><td>{Escape(F(v?.After))}</td><td>{Escape(ratio)}</td></tr>\n");
    }

    private static string Params(IReadOnlyList<ReportParameter> p) =>
        p.Count == 0 ? "" : " (" + string.Join(", ", p.Select(x => $"{x.Name} = {x.Value}")) + ")";

    /// <summary>The page's only style sheet (no '&lt;' or '&amp;' in it, so it is valid XML text too).</summary>
    internal const string Css = """
        :root { color-scheme: light; }
        body { margin: 0; background: #f6f6f3; color: #1d1d1f; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
        main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
        h1 { font-size: 1.7em; margin: 0.2em 0 0.4em; }
        h2 { font-size: 1.3em; margin: 1.6em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
        h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
        nav { font-size: 0.95em; margin-bottom: 1em; }
        a { color: #0b5cad; }
        .note { background: #fff6e0; border-left: 4px solid #e6a100; padding: 6px 10px; }
        .small { font-size: 0.9em; color: #444; }
        table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-variant-numeric: tabular-nums; }
        th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; }
        table.cmp th { border-bottom: 1px solid #bbb; }
        table.cmp td { border-bottom: 1px solid #eee; }
        table.kv th { font-weight: 600; white-space: nowrap; color: #333; }
        figure { margin: 0.6em 0; }
        figcaption { font-size: 0.85em; color: #555; max-width: 560px; }
        .grid { display: flex; flex-wrap: wrap; gap: 18px 26px; }
        .grid > figure { width: min-content; }
        .grid svg.chart { max-width: none; }
        .grid > figure figcaption { max-width: none; }
        .card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; width: 310px; }
        .card h3 { margin-top: 0.2em; }
        .card table { font-size: 0.9em; }
        footer { margin-top: 2.5em; font-size: 0.85em; color: #555; }
        svg.chart { display: block; max-width: 100%; height: auto; background: #fff; }
        svg .ct { font-size: 13px; font-weight: 600; fill: #222; }
        svg .tl { font-size: 11px; fill: #333; }
        svg .al { font-size: 12px; fill: #222; }
        svg .lg { font-size: 11px; fill: #222; }
        svg .rm { fill: #b34a00; font-weight: 600; }
        svg .ax { stroke: #444; stroke-width: 1; }
        svg .grid { stroke: #e4e4e4; stroke-width: 1; }
        svg .kept { fill: #0072B2; }
        svg .removed { fill: #E69F00; }
        svg .bar-mi { fill: #56B4E9; stroke: #fff; stroke-width: 0.5; }
        svg .null { fill: rgba(60, 60, 60, 0.12); stroke: #333; stroke-width: 1.4; }
        svg line.null { stroke: #333; stroke-width: 1.4; }
        svg .thr { stroke: #C0392B; stroke-width: 2; }
        svg .nq { stroke: #555; stroke-width: 1.5; stroke-dasharray: 5 3; }
        svg .cell { stroke: #fff; stroke-width: 0.4; }
        svg .diag { fill: #ececec; stroke: #fff; stroke-width: 0.4; }
        svg .cb { stroke: none; }
        svg .pt { fill: #0072B2; fill-opacity: 0.45; }
        svg .series { fill: none; stroke-width: 2; }
        svg .mk { stroke: #fff; stroke-width: 1; }
        """;
}
